/* The index's packed-key tables in C: u64 keys (a frame's conversation, its layer offsets, its
 * ETW header fields) to small ids, an open-addressing hash table the caller holds in two arrays.
 * Optional: without a compiler keytable.py uses sorted arrays (tests/test_scan_native.py holds
 * both to the same ids).
 *
 * key_lookup(slots, ids, keys) -> bytes
 *     An open-addressing hash table of u64 keys held by the caller in two arrays of one power-of-two
 *     size: ``slots`` (uint64 keys) and ``ids`` (int64, -1 where a slot is empty).  The int64 id of
 *     each of ``keys``, or -1 where the table lacks it.
 *
 * key_insert(slots, ids, keys, new_ids) -> None
 *     Puts each key with its id into the table (writable arrays; a key already there takes the new
 *     id).  The caller keeps the table at most half full, so a probe always ends at an empty slot.
 *
 * key_claim(slots, ids, keys, base, count) -> (ids, new_rows, done)
 *     ``key_lookup`` that also puts each key the table lacks in it, numbered ``base``, ``base`` + 1, …
 *     in the order the keys first come: the int64 id of each key (those numbers for new ones)
 *     and the row where each new key first came (int64), for the first ``done`` rows.  It stops
 *     before a new key would fill the table past half (``count``: the keys in it now); the caller
 *     grows the table and goes on, and at the end renumbers the new keys (``key_insert``).
 *
 * wide_insert(keys, ids, new_keys, new_ids) -> None
 *     ``key_insert`` for a table of wider keys, each ``w`` u64 words: ``keys`` (uint64, ``w`` words
 *     a slot, row after row) and ``ids`` (int64, -1 where a slot is empty), a power-of-two number
 *     of slots; ``new_keys`` ``w`` words a key.
 *
 * conversations(rows, cols, eth, ip, l4, bases, out) -> (eth_new, ip_new, l4_new, done)
 *     The Ethernet, IPv4 and TCP/UDP-over-IPv4 conversations of many frames in one pass (the
 *     layer walk's columns; ``fastclassify._eth``/``_ip4``/``_l4`` are the NumPy reference).
 *     ``cols``: (is_eth, eth_src, eth_dst, family, ip_src4, ip_dst4, proto, sport, dport), one
 *     byte a row for ``is_eth``, int64 for the rest; ``rows``: the int64 rows of ``cols`` to read.
 *     A conversation's key is its two sides, the lower first: the MAC pair (2 words), the IPv4
 *     pair packed as lo << 32 | hi (1 word), and for TCP and UDP that packed pair and udp << 32 |
 *     port_a << 16 | port_b (2 words), where side A of the ports is the frame's source unless the
 *     frame's source address is side B (or, between equal addresses, its source port is the
 *     higher).  A table is (keys, ids, count), as ``wide_insert`` holds it, ``count`` the keys in
 *     it.  Into ``out``, writable arrays (eth_ids, ip_ids, l4_ids, flags) of at least one item a
 *     row, per row: the int64 id of each conversation (0 where the frame has none: not Ethernet,
 *     not IPv4, not TCP/UDP), a table's new keys numbered from its entry of ``bases`` in the order
 *     they first come, and put in the table with those numbers (the caller renumbers them if it
 *     must); and ``flags``, one byte, the index's DIR_*_REVERSED bits: 1 the source MAC is side
 *     B, 2 the source address is, 4 the source port is.  Returned: per table, the rows where its
 *     new keys first came (int64), and ``done``, the rows read.  It stops before a row where a
 *     table could not take one more key at most half full: the caller grows that table and goes
 *     on from there.
 *
 * conversations6(rows, addrs, cols, ip, l4, bases, out) -> (ip_new, l4_new, done)
 *     ``conversations`` for IPv6 frames: ``addrs`` (src, dst), their addresses, 16 bytes for each
 *     of ``rows`` (in its order), ``cols`` (proto, sport, dport); the IP key is the two addresses
 *     as big-endian words, the lower first (4 words), the TCP/UDP key that and the ports' word (5
 *     words); ``out`` (ip_ids, l4_ids, flags), flags 2 and 4 as above.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* splitmix64's finaliser: packed keys differ in few, high or low, bits; this spreads them */
static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* the table's two arrays, checked: one power-of-two number of slots each */
static int table_size(Py_buffer *slots, Py_buffer *ids, Py_ssize_t *cap) {
    Py_ssize_t n = slots->len / (Py_ssize_t)sizeof(uint64_t);
    if (n == 0 || (n & (n - 1)) != 0 || ids->len != slots->len || slots->len % (Py_ssize_t)sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "slots and ids must be two arrays of one power-of-two size");
        return 0;
    }
    *cap = n;
    return 1;
}

#define MAX_WORDS 8

static inline uint64_t mix_words(const uint64_t *k, int w) {
    uint64_t h = mix64(k[0]);
    for (int j = 1; j < w; j++) h = mix64(h ^ k[j]);
    return h;
}

static inline Py_ssize_t probe_words(const uint64_t *keys, const int64_t *ids, Py_ssize_t cap, int w, const uint64_t *k) {
    uint64_t mask = (uint64_t)cap - 1, at = mix_words(k, w) & mask;
    for (Py_ssize_t tries = 0; tries < cap; tries++, at = (at + 1) & mask) {
        if (ids[at] < 0) return (Py_ssize_t)at;
        const uint64_t *slot = keys + at * (uint64_t)w;
        int same = 1;
        for (int j = 0; j < w && same; j++) same = slot[j] == k[j];
        if (same) return (Py_ssize_t)at;
    }
    return -1;
}

/* The slot holding ``k``, or the empty slot where its probe ends (then ids[slot] < 0); -1 when
 * the table has neither: full, which a caller keeping it half full never lets happen, but the
 * walk stays bounded if one does not. */
static inline Py_ssize_t probe(const uint64_t *slots, const int64_t *ids, Py_ssize_t cap, uint64_t k) {
    return probe_words(slots, ids, cap, 1, &k);
}

static PyObject *key_lookup(PyObject *self, PyObject *args) {
    Py_buffer sl, id, ks;
    if (!PyArg_ParseTuple(args, "y*y*y*", &sl, &id, &ks)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t cap, rows = ks.len / (Py_ssize_t)sizeof(uint64_t);
    if (!table_size(&sl, &id, &cap)) goto done;
    out = PyBytes_FromStringAndSize(NULL, rows * (Py_ssize_t)sizeof(int64_t));
    if (out == NULL) goto done;
    int64_t *o = (int64_t *)PyBytes_AS_STRING(out);
    const uint64_t *slots = (const uint64_t *)sl.buf, *keys = (const uint64_t *)ks.buf;
    const int64_t *ids = (const int64_t *)id.buf;
    for (Py_ssize_t r = 0; r < rows; r++) {
        Py_ssize_t at = probe(slots, ids, cap, keys[r]);
        o[r] = at >= 0 && ids[at] >= 0 ? ids[at] : -1;
    }
done:
    PyBuffer_Release(&sl);
    PyBuffer_Release(&id);
    PyBuffer_Release(&ks);
    return out;
}

static PyObject *wide_insert(PyObject *self, PyObject *args);

/* (a table of 1-word keys is a wide one: the same slots, hash and probe) */
static PyObject *key_insert(PyObject *self, PyObject *args) { return wide_insert(self, args); }

static PyObject *key_claim(PyObject *self, PyObject *args) {
    Py_buffer sl, id, ks;
    long long base;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "w*w*y*Ln", &sl, &id, &ks, &base, &count)) return NULL;
    PyObject *out = NULL, *rows_out = NULL, *res = NULL;
    Py_ssize_t cap, rows = ks.len / (Py_ssize_t)sizeof(uint64_t);
    if (!table_size(&sl, &id, &cap)) goto done;
    if (base < 0 || count < 0) {
        PyErr_SetString(PyExc_ValueError, "a negative base or count");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, rows * (Py_ssize_t)sizeof(int64_t));
    rows_out = PyBytes_FromStringAndSize(NULL, rows * (Py_ssize_t)sizeof(int64_t));
    if (out == NULL || rows_out == NULL) goto done;
    int64_t *o = (int64_t *)PyBytes_AS_STRING(out), *first = (int64_t *)PyBytes_AS_STRING(rows_out);
    uint64_t *slots = (uint64_t *)sl.buf;
    int64_t *ids = (int64_t *)id.buf;
    const uint64_t *keys = (const uint64_t *)ks.buf;
    Py_ssize_t fresh = 0, r = 0;
    for (; r < rows; r++) {
        Py_ssize_t at = probe(slots, ids, cap, keys[r]);
        if (at < 0) {
            PyErr_SetString(PyExc_ValueError, "the table is full");
            goto done;
        }
        if (ids[at] < 0) {
            if (2 * (count + fresh + 1) > cap) break; /* the caller grows the table first */
            slots[at] = keys[r];
            ids[at] = (int64_t)base + fresh;
            first[fresh++] = r;
        }
        o[r] = ids[at];
    }
    if (_PyBytes_Resize(&out, r * (Py_ssize_t)sizeof(int64_t)) < 0) {
        out = NULL;
        goto done;
    }
    if (_PyBytes_Resize(&rows_out, fresh * (Py_ssize_t)sizeof(int64_t)) < 0) {
        rows_out = NULL;
        goto done;
    }
    res = Py_BuildValue("(OOn)", out, rows_out, r);
done:
    Py_XDECREF(out);
    Py_XDECREF(rows_out);
    PyBuffer_Release(&sl);
    PyBuffer_Release(&id);
    PyBuffer_Release(&ks);
    return res;
}

/* -- wider keys: ``w`` u64 words a key ----------------------------------------------------- */
/* the words a key of the table (keys, ids) has: its slots' share of ``keys`` (0: not a table) */
static int key_words(Py_buffer *keys, Py_buffer *ids, Py_ssize_t *cap) {
    Py_ssize_t n = ids->len / (Py_ssize_t)sizeof(int64_t);
    if (n == 0 || (n & (n - 1)) != 0 || ids->len % (Py_ssize_t)sizeof(int64_t) || keys->len % ids->len ||
        keys->len / ids->len < 1 || keys->len / ids->len > MAX_WORDS) {
        PyErr_SetString(PyExc_ValueError, "keys and ids must hold one power-of-two number of slots of 1 to 8 words");
        return 0;
    }
    *cap = n;
    return (int)(keys->len / ids->len);
}

static PyObject *wide_insert(PyObject *self, PyObject *args) {
    Py_buffer kb, id, nk, nw;
    if (!PyArg_ParseTuple(args, "w*w*y*y*", &kb, &id, &nk, &nw)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t cap, rows = nw.len / (Py_ssize_t)sizeof(int64_t);
    int w = key_words(&kb, &id, &cap);
    if (!w) goto done;
    if (nk.len != rows * w * (Py_ssize_t)sizeof(uint64_t) || nw.len % (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "new keys and new ids differ in size");
        goto done;
    }
    uint64_t *keys = (uint64_t *)kb.buf;
    int64_t *ids = (int64_t *)id.buf;
    const uint64_t *k = (const uint64_t *)nk.buf;
    const int64_t *fresh = (const int64_t *)nw.buf;
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (fresh[r] < 0) {
            PyErr_SetString(PyExc_ValueError, "an id is negative");
            goto done;
        }
        Py_ssize_t at = probe_words(keys, ids, cap, w, k + r * w);
        if (at < 0) {
            PyErr_SetString(PyExc_ValueError, "the table is full");
            goto done;
        }
        memcpy(keys + at * w, k + r * w, (size_t)w * sizeof(uint64_t));
        ids[at] = fresh[r];
    }
    out = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&kb);
    PyBuffer_Release(&id);
    PyBuffer_Release(&nk);
    PyBuffer_Release(&nw);
    return out;
}

/* one table of a conversation pass, the new keys it was given */
typedef struct {
    Py_buffer b[2];
    int nb, w;
    uint64_t *keys;
    int64_t *ids;
    Py_ssize_t cap, count, fresh;
    int64_t base, *first;
} table_t;

static int open_table(PyObject *spec, table_t *t, int words, long long base) {
    t->nb = 0;
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 3) {
        PyErr_SetString(PyExc_TypeError, "a table is (keys, ids, count)");
        return 0;
    }
    for (int k = 0; k < 2; k++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(spec, k), &t->b[k], PyBUF_WRITABLE) < 0) return 0;
        t->nb++;
    }
    t->count = PyLong_AsSsize_t(PyTuple_GET_ITEM(spec, 2));
    if (t->count == -1 && PyErr_Occurred()) return 0;
    t->w = key_words(&t->b[0], &t->b[1], &t->cap);
    if (!t->w) return 0;
    if (t->w != words) {
        PyErr_Format(PyExc_ValueError, "a table of %d-word keys where %d-word ones belong", t->w, words);
        return 0;
    }
    if (t->count < 0 || 2 * t->count > t->cap || base < 0) {
        PyErr_SetString(PyExc_ValueError, "a table more than half full, or a negative base");
        return 0;
    }
    t->keys = (uint64_t *)t->b[0].buf;
    t->ids = (int64_t *)t->b[1].buf;
    t->fresh = 0;
    t->base = (int64_t)base;
    t->first = NULL;
    return 1;
}

static void close_table(table_t *t) {
    for (int k = 0; k < t->nb; k++) PyBuffer_Release(&t->b[k]);
    t->nb = 0;
}

/* room in every table for one more key at most half full */
static int room(const table_t *t, int n) {
    for (int k = 0; k < n; k++)
        if (2 * (t[k].count + t[k].fresh + 1) > t[k].cap) return 0;
    return 1;
}

/* the id of key ``k``, claimed numbered base + fresh when new (``room`` was checked) */
static inline int64_t claim(table_t *t, const uint64_t *k, Py_ssize_t row) {
    Py_ssize_t at = probe_words(t->keys, t->ids, t->cap, t->w, k);
    if (t->ids[at] < 0) {
        memcpy(t->keys + at * t->w, k, (size_t)t->w * sizeof(uint64_t));
        t->ids[at] = t->base + t->fresh;
        t->first[t->fresh++] = row;
    }
    return t->ids[at];
}

/* a pass's shared set-up: int64 columns of one length, the rows inside them, the tables, the
 * outputs (int64 ids, then one byte of flags) and the new-row lists */
typedef struct {
    Py_buffer rb, cb[9], ob[4];
    int ncb, nob, ntab;
    Py_ssize_t n, len;
    table_t tab[3];
    PyObject *firsts[3];
} pass_t;

static void pass_free(pass_t *p) {
    for (int k = 0; k < p->ntab; k++) close_table(&p->tab[k]);
    for (int k = 0; k < p->ncb; k++) PyBuffer_Release(&p->cb[k]);
    for (int k = 0; k < p->nob; k++) PyBuffer_Release(&p->ob[k]);
    for (int k = 0; k < 3; k++) Py_CLEAR(p->firsts[k]);
    PyBuffer_Release(&p->rb);
}

/* ``cols`` (each ``sizes[k]`` bytes a row, ``widths[k]`` of them: 16 for an address), ``specs``
 * with their key words, ``outs`` (ntab int64 arrays then the flags) */
static int pass_open(pass_t *p, PyObject *cols, const int *sizes, int ncols, PyObject *const *specs,
                     const int *words, const long long *bases, int ntab, PyObject *outs) {
    p->n = p->rb.len / (Py_ssize_t)sizeof(int64_t);
    if (!PyTuple_Check(cols) || PyTuple_GET_SIZE(cols) != ncols) {
        PyErr_Format(PyExc_TypeError, "cols must be %d arrays", ncols);
        return 0;
    }
    for (int k = 0; k < ncols; k++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(cols, k), &p->cb[k], PyBUF_SIMPLE) < 0) return 0;
        p->ncb++;
        Py_ssize_t rows_here = p->cb[k].len / sizes[k];
        if (k == 0) p->len = rows_here;
        if (rows_here != p->len || p->cb[k].len % sizes[k]) {
            PyErr_SetString(PyExc_ValueError, "the columns differ in size");
            return 0;
        }
    }
    const int64_t *rows = (const int64_t *)p->rb.buf;
    for (Py_ssize_t i = 0; i < p->n; i++) {
        if (rows[i] < 0 || rows[i] >= p->len) {
            PyErr_SetString(PyExc_IndexError, "a row is outside the columns");
            return 0;
        }
    }
    for (int k = 0; k < ntab; k++) {
        if (!open_table(specs[k], &p->tab[k], words[k], bases[k])) {
            p->ntab = k + 1;
            return 0;
        }
        p->ntab = k + 1;
        p->firsts[k] = PyBytes_FromStringAndSize(NULL, p->n * (Py_ssize_t)sizeof(int64_t));
        if (p->firsts[k] == NULL) return 0;
        p->tab[k].first = (int64_t *)PyBytes_AS_STRING(p->firsts[k]);
    }
    if (!PyTuple_Check(outs) || PyTuple_GET_SIZE(outs) != ntab + 1) {
        PyErr_Format(PyExc_TypeError, "out must be %d arrays", ntab + 1);
        return 0;
    }
    for (int k = 0; k <= ntab; k++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(outs, k), &p->ob[k], PyBUF_WRITABLE) < 0) return 0;
        p->nob++;
        if (p->ob[k].len < p->n * (k < ntab ? (Py_ssize_t)sizeof(int64_t) : 1)) {
            PyErr_SetString(PyExc_ValueError, "an output array is shorter than the rows");
            return 0;
        }
    }
    return 1;
}

/* (new rows per table..., done) */
static PyObject *pass_result(pass_t *p, Py_ssize_t done) {
    for (int k = 0; k < p->ntab; k++)
        if (_PyBytes_Resize(&p->firsts[k], p->tab[k].fresh * (Py_ssize_t)sizeof(int64_t)) < 0) return NULL;
    return p->ntab == 3 ? Py_BuildValue("(OOOn)", p->firsts[0], p->firsts[1], p->firsts[2], done)
                        : Py_BuildValue("(OOn)", p->firsts[0], p->firsts[1], done);
}

/* a TCP/UDP conversation's last key word, udp << 32 | port_a << 16 | port_b: side A is the
 * frame's source unless its source address is side B (``rev``) or, between equal addresses
 * (``same``), its source port is the higher; flag 4 when the source is side B */
static inline uint64_t ports_word(int64_t proto, int64_t sport, int64_t dport, int same, int rev,
                                  unsigned char *flags) {
    int swap = same ? sport > dport : rev;
    if (swap) *flags |= 4;
    uint64_t pa = (uint64_t)(swap ? dport : sport), pb = (uint64_t)(swap ? sport : dport);
    return (uint64_t)(proto == 17) << 32 | pa << 16 | pb;
}

enum { C_IS_ETH, C_ETH_SRC, C_ETH_DST, C_FAMILY, C_SRC4, C_DST4, C_PROTO, C_SPORT, C_DPORT, N_COLS };

static PyObject *conversations(PyObject *self, PyObject *args) {
    pass_t p = {.ncb = 0};
    PyObject *cols, *specs[3], *outs, *res = NULL;
    long long bases[3];
    if (!PyArg_ParseTuple(args, "y*OOOO(LLL)O", &p.rb, &cols, &specs[0], &specs[1], &specs[2], &bases[0], &bases[1],
                          &bases[2], &outs))
        return NULL;
    static const int sizes[N_COLS] = {1, 8, 8, 8, 8, 8, 8, 8, 8}, words[3] = {2, 1, 2};
    if (!pass_open(&p, cols, sizes, N_COLS, specs, words, bases, 3, outs)) goto done;
    const int64_t *rows = (const int64_t *)p.rb.buf;
    const unsigned char *is_eth = (const unsigned char *)p.cb[C_IS_ETH].buf;
    const int64_t *c[N_COLS];
    for (int k = 1; k < N_COLS; k++) c[k] = (const int64_t *)p.cb[k].buf;
    int64_t *eth_ids = (int64_t *)p.ob[0].buf, *ip_ids = (int64_t *)p.ob[1].buf, *l4_ids = (int64_t *)p.ob[2].buf;
    unsigned char *flags = (unsigned char *)p.ob[3].buf;
    Py_ssize_t i = 0;
    Py_BEGIN_ALLOW_THREADS /* (only buffers the call holds are read and written) */
    for (; i < p.n && room(p.tab, 3); i++) {
        Py_ssize_t r = (Py_ssize_t)rows[i];
        unsigned char f = 0;
        eth_ids[i] = ip_ids[i] = l4_ids[i] = 0;
        if (is_eth[r]) {
            uint64_t s = (uint64_t)c[C_ETH_SRC][r], t = (uint64_t)c[C_ETH_DST][r];
            uint64_t k[2] = {s < t ? s : t, s < t ? t : s};
            if (s != k[0]) f |= 1;
            eth_ids[i] = claim(&p.tab[0], k, i);
        }
        if (c[C_FAMILY][r] == 4) {
            uint64_t s = (uint64_t)c[C_SRC4][r], t = (uint64_t)c[C_DST4][r];
            uint64_t pair = (s < t ? s : t) << 32 | (s < t ? t : s);
            int rev = t < s;
            if (rev) f |= 2;
            ip_ids[i] = claim(&p.tab[1], &pair, i);
            int64_t proto = c[C_PROTO][r];
            if (proto == 6 || proto == 17) {
                uint64_t k[2] = {pair, ports_word(proto, c[C_SPORT][r], c[C_DPORT][r], s == t, rev, &f)};
                l4_ids[i] = claim(&p.tab[2], k, i);
            }
        }
        flags[i] = f;
    }
    Py_END_ALLOW_THREADS
    res = pass_result(&p, i);
done:
    pass_free(&p);
    return res;
}

static inline uint64_t be64(const unsigned char *b) {
    uint64_t x = 0;
    for (int j = 0; j < 8; j++) x = x << 8 | b[j];
    return x;
}

enum { C6_PROTO, C6_SPORT, C6_DPORT, N_COLS6 };

static PyObject *conversations6(PyObject *self, PyObject *args) {
    pass_t p = {.ncb = 0};
    Py_buffer sb, db;
    PyObject *cols, *specs[2], *outs, *res = NULL;
    long long bases[2];
    if (!PyArg_ParseTuple(args, "y*(y*y*)OOO(LL)O", &p.rb, &sb, &db, &cols, &specs[0], &specs[1], &bases[0],
                          &bases[1], &outs))
        return NULL;
    static const int sizes[N_COLS6] = {8, 8, 8}, words[2] = {4, 5};
    if (!pass_open(&p, cols, sizes, N_COLS6, specs, words, bases, 2, outs)) goto done;
    if (sb.len != 16 * p.n || db.len != 16 * p.n) {
        PyErr_SetString(PyExc_ValueError, "the addresses are not 16 bytes for each row");
        goto done;
    }
    const int64_t *rows = (const int64_t *)p.rb.buf;
    const unsigned char *src = (const unsigned char *)sb.buf, *dst = (const unsigned char *)db.buf;
    const int64_t *proto = (const int64_t *)p.cb[C6_PROTO].buf, *sport = (const int64_t *)p.cb[C6_SPORT].buf;
    const int64_t *dport = (const int64_t *)p.cb[C6_DPORT].buf;
    int64_t *ip_ids = (int64_t *)p.ob[0].buf, *l4_ids = (int64_t *)p.ob[1].buf;
    unsigned char *flags = (unsigned char *)p.ob[2].buf;
    Py_ssize_t i = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; i < p.n && room(p.tab, 2); i++) {
        Py_ssize_t r = (Py_ssize_t)rows[i];
        uint64_t s[2] = {be64(src + 16 * i), be64(src + 16 * i + 8)};
        uint64_t t[2] = {be64(dst + 16 * i), be64(dst + 16 * i + 8)};
        int rev = t[0] < s[0] || (t[0] == s[0] && t[1] < s[1]); /* dst < src: dst is side A */
        unsigned char f = rev ? 2 : 0;
        uint64_t k[5] = {rev ? t[0] : s[0], rev ? t[1] : s[1], rev ? s[0] : t[0], rev ? s[1] : t[1], 0};
        ip_ids[i] = claim(&p.tab[0], k, i);
        l4_ids[i] = 0;
        if (proto[r] == 6 || proto[r] == 17) {
            k[4] = ports_word(proto[r], sport[r], dport[r], s[0] == t[0] && s[1] == t[1], rev, &f);
            l4_ids[i] = claim(&p.tab[1], k, i);
        }
        flags[i] = f;
    }
    Py_END_ALLOW_THREADS
    res = pass_result(&p, i);
done:
    pass_free(&p);
    PyBuffer_Release(&sb);
    PyBuffer_Release(&db);
    return res;
}

static PyMethodDef methods[] = {
    {"key_lookup", key_lookup, METH_VARARGS, "Ids of u64 keys in an open-addressing table, -1 where absent."},
    {"key_insert", key_insert, METH_VARARGS, "Put u64 keys with their ids into an open-addressing table."},
    {"key_claim", key_claim, METH_VARARGS, "Ids of u64 keys, new keys put in the table numbered from a base."},
    {"wide_insert", wide_insert, METH_VARARGS, "Put keys of several words with their ids into an open-addressing table."},
    {"conversations", conversations, METH_VARARGS, "Ethernet, IPv4 and TCP/UDP conversation ids of many frames."},
    {"conversations6", conversations6, METH_VARARGS, "IPv6 and TCP/UDP conversation ids of many frames."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_keys", NULL, -1, methods};

PyMODINIT_FUNC PyInit__keys(void) { return PyModule_Create(&module); }
