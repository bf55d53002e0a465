/* Per-record loops of the index in C: walking a pcap file's record chain, a case-insensitive
 * word search in many payloads, header rows at many offsets, and a hash table of conversation
 * keys.  Optional: without a compiler, pcap.py, pcapng.py, fastapps.py, gather.py, fastwalk.py and keytable.py run the
 * same work in Python and NumPy (tests/test_scan_native.py holds both to the same results).
 *
 * pcap_records(buf, pos, want, little, limit) -> (starts, pos)
 *     From record header offset ``pos``, the offsets of up to ``want`` records whose captured length
 *     is non-zero, at most ``limit`` and inside the buffer, as native int64 bytes; ``pos`` after the
 *     last one.  It stops before the first record that is not so (the caller looks closer).
 *
 * pcapng_epbs(buf, pos, want, little, limit) -> (starts, pos)
 *     From block offset ``pos``, the offsets of up to ``want`` consecutive Enhanced Packet Blocks
 *     that are well formed on the outside: type 6, a length of at least 32, a multiple of 4, at
 *     most ``limit`` and inside the buffer, the same length at the block's end.  Native int64
 *     bytes, and ``pos`` after the last one; it stops before the first block that is not so
 *     (the caller reads that one: another block type, or damage).
 *
 * find_words(buf, starts, lengths, words) -> bytes
 *     One byte per (start, length) row of the int64 arrays: 1 when any of ``words`` (lower-case
 *     ASCII letters) occurs in buf[start : start + length] in any letter case.  Rows outside the
 *     buffer are cut to it.
 *
 * gather_rows(buf, pos, width, pad=False) -> bytes
 *     The ``width`` bytes at each int64 position of ``pos``, one row after another (rows x width):
 *     a header read at 100,000 offsets without NumPy's index temporaries.  A negative position
 *     counts as 0.  Without ``pad`` a position past len(buf) - width is moved back to it, as
 *     ``np.clip`` does (the callers check bounds themselves and ignore such rows), and a buffer
 *     shorter than ``width`` gives rows of zeros; with ``pad`` such a row holds the bytes up to
 *     the end of the buffer, then zeros.
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
 * walk_headers(buf, offs, ends, links, columns, out6, linktypes, embedding4, embedding6, arp) -> None
 *     The index's layer walk (fastwalk.walk_numpy) for the plain shapes: Ethernet (up to three
 *     VLAN tags), raw IP, IPv4/IPv6 link types and Linux SLL/SLL2, then an unfragmented IPv4 or
 *     a fixed IPv6 header, then TCP, UDP, or an ICMP/ICMPv6 message that quotes no packet; or,
 *     with ``arp``, an ARP message for IPv4 over Ethernet.  Per
 *     row of the int64 arrays ``offs``/``ends``/``links`` it fills that row of each of ``columns`` (a
 *     tuple of W_COLUMNS writable int64 arrays, in the order below, zeros where a value is not
 *     read) and, for IPv6, the source and destination of ``out6`` (rows x 32 bytes).  Column 0 is 0 for a row it does not decide (anything else, or a header a dissector
 *     would look closer at: the caller walks those rows in NumPy) and 1, 2, 3 or 4 for TCP, UDP,
 *     ICMP or ARP.  ``linktypes``: the LINKTYPE numbers of Ethernet, raw IP (three), IPv4, IPv6, SLL and
 *     SLL2; ``embedding4``/``6``: bit t set for the ICMP/ICMPv6 types that quote a packet.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* how far ahead of the record walk the file's lines are prefetched */
#define PREFETCH_BYTES 4096
/* rows ahead whose bytes are prefetched where rows lie far apart (gather_rows, walk_headers) */
#define WALK_AHEAD 16
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

static PyObject *pcap_records(PyObject *self, PyObject *args) {
    Py_buffer in;
    Py_ssize_t pos, want, limit;
    int little;
    if (!PyArg_ParseTuple(args, "y*nnpn", &in, &pos, &want, &little, &limit)) return NULL;
    if (pos < 0 || want < 0) {
        PyBuffer_Release(&in);
        PyErr_SetString(PyExc_ValueError, "negative position or count");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, want * (Py_ssize_t)sizeof(int64_t));
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    int64_t *starts = (int64_t *)PyBytes_AS_STRING(out);
    const unsigned char *b = (const unsigned char *)in.buf;
    Py_ssize_t size = in.len, n = 0;
    /* Each record's length says where the next one is: a chain of dependent loads, one cache miss
     * per record.  The records tile the file, so every line ahead is wanted: prefetch them. */
    Py_ssize_t ahead = pos;
    while (n < want && pos + 16 <= size) {
        Py_ssize_t goal = pos + PREFETCH_BYTES < size ? pos + PREFETCH_BYTES : size;
        for (; ahead < goal; ahead += 64) PREFETCH(b + ahead);
        const unsigned char *h = b + pos + 8;
        uint32_t caplen = little ? ((uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24)
                                 : ((uint32_t)h[3] | (uint32_t)h[2] << 8 | (uint32_t)h[1] << 16 | (uint32_t)h[0] << 24);
        if (caplen == 0 || (Py_ssize_t)caplen > limit || (Py_ssize_t)caplen > size - pos - 16) break;
        starts[n++] = pos;
        pos += 16 + (Py_ssize_t)caplen;
    }
    PyBuffer_Release(&in);
    if (_PyBytes_Resize(&out, n * (Py_ssize_t)sizeof(int64_t)) < 0) return NULL;
    return Py_BuildValue("(Nn)", out, pos);
}

static inline uint32_t u32_at(const unsigned char *h, int little) {
    return little ? ((uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24)
                  : ((uint32_t)h[3] | (uint32_t)h[2] << 8 | (uint32_t)h[1] << 16 | (uint32_t)h[0] << 24);
}

static PyObject *pcapng_epbs(PyObject *self, PyObject *args) {
    Py_buffer in;
    Py_ssize_t pos, want, limit;
    int little;
    if (!PyArg_ParseTuple(args, "y*nnpn", &in, &pos, &want, &little, &limit)) return NULL;
    if (pos < 0 || want < 0) {
        PyBuffer_Release(&in);
        PyErr_SetString(PyExc_ValueError, "negative position or count");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, want * (Py_ssize_t)sizeof(int64_t));
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    int64_t *starts = (int64_t *)PyBytes_AS_STRING(out);
    const unsigned char *b = (const unsigned char *)in.buf;
    Py_ssize_t size = in.len, n = 0, ahead = pos;
    while (n < want && pos + 12 <= size) {
        Py_ssize_t goal = pos + PREFETCH_BYTES < size ? pos + PREFETCH_BYTES : size;
        for (; ahead < goal; ahead += 64) PREFETCH(b + ahead);
        uint32_t btype = u32_at(b + pos, little), blen = u32_at(b + pos + 4, little);
        if (btype != 6 || blen < 32 || (blen & 3) || (Py_ssize_t)blen > limit || (Py_ssize_t)blen > size - pos ||
            u32_at(b + pos + blen - 4, little) != blen)
            break;
        starts[n++] = pos;
        pos += (Py_ssize_t)blen;
    }
    PyBuffer_Release(&in);
    if (_PyBytes_Resize(&out, n * (Py_ssize_t)sizeof(int64_t)) < 0) return NULL;
    return Py_BuildValue("(Nn)", out, pos);
}

static int has_word(const unsigned char *p, Py_ssize_t n, const unsigned char *w, Py_ssize_t wn) {
    if (wn == 0) return 1;
    unsigned char first = w[0];
    for (Py_ssize_t i = 0; i + wn <= n; i++) {
        if ((p[i] | 0x20) != first) continue;
        Py_ssize_t k = 1;
        while (k < wn && (p[i + k] | 0x20) == w[k]) k++;
        if (k == wn) return 1;
    }
    return 0;
}

static PyObject *find_words(PyObject *self, PyObject *args) {
    Py_buffer in, st, ln;
    PyObject *words;
    if (!PyArg_ParseTuple(args, "y*y*y*O!", &in, &st, &ln, &PyTuple_Type, &words)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t rows = st.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t nw = PyTuple_GET_SIZE(words);
    if (ln.len / (Py_ssize_t)sizeof(int64_t) != rows) {
        PyErr_SetString(PyExc_ValueError, "starts and lengths differ in size");
        goto done;
    }
    for (Py_ssize_t j = 0; j < nw; j++) {
        PyObject *w = PyTuple_GET_ITEM(words, j);
        if (!PyBytes_Check(w)) {
            PyErr_SetString(PyExc_TypeError, "words must be bytes");
            goto done;
        }
        const unsigned char *c = (const unsigned char *)PyBytes_AS_STRING(w);
        for (Py_ssize_t k = 0; k < PyBytes_GET_SIZE(w); k++) {
            if (c[k] < 'a' || c[k] > 'z') {
                PyErr_SetString(PyExc_ValueError, "words must be lower-case ASCII letters");
                goto done;
            }
        }
    }
    out = PyBytes_FromStringAndSize(NULL, rows);
    if (out == NULL) goto done;
    unsigned char *mask = (unsigned char *)PyBytes_AS_STRING(out);
    const int64_t *starts = (const int64_t *)st.buf, *lengths = (const int64_t *)ln.buf;
    const unsigned char *b = (const unsigned char *)in.buf;
    Py_ssize_t size = in.len;
    /* One pass per row: at each byte, only the words starting with its letter are compared
     * (``first``: a bit per word, by lower-case first letter).  With more words than bits, or an
     * empty word, each word is searched in turn. */
    uint32_t first[256] = {0};
    int one_pass = nw <= 32;
    for (Py_ssize_t j = 0; j < nw && one_pass; j++) {
        PyObject *w = PyTuple_GET_ITEM(words, j);
        if (PyBytes_GET_SIZE(w) == 0) one_pass = 0;
        else first[(unsigned char)PyBytes_AS_STRING(w)[0]] |= (uint32_t)1 << j;
    }
    for (Py_ssize_t r = 0; r < rows; r++) {
        int64_t a = starts[r], e = starts[r] + lengths[r];
        if (a < 0) a = 0;
        if (e > size) e = size;
        int hit = 0;
        if (one_pass) {
            const unsigned char *p = b + a;
            Py_ssize_t n = e > a ? (Py_ssize_t)(e - a) : 0;
            for (Py_ssize_t i = 0; i < n && !hit; i++) {
                uint32_t bits = first[p[i] | 0x20];
                for (Py_ssize_t j = 0; bits && !hit; j++, bits >>= 1) {
                    if (!(bits & 1)) continue;
                    PyObject *w = PyTuple_GET_ITEM(words, j);
                    Py_ssize_t wn = PyBytes_GET_SIZE(w);
                    const unsigned char *c = (const unsigned char *)PyBytes_AS_STRING(w);
                    if (i + wn > n) continue;
                    Py_ssize_t k = 1;
                    while (k < wn && (p[i + k] | 0x20) == c[k]) k++;
                    hit = k == wn;
                }
            }
        } else {
            for (Py_ssize_t j = 0; j < nw && !hit && e > a; j++) {
                PyObject *w = PyTuple_GET_ITEM(words, j);
                hit = has_word(b + a, (Py_ssize_t)(e - a), (const unsigned char *)PyBytes_AS_STRING(w), PyBytes_GET_SIZE(w));
            }
        }
        mask[r] = (unsigned char)hit;
    }
done:
    PyBuffer_Release(&in);
    PyBuffer_Release(&st);
    PyBuffer_Release(&ln);
    return out;
}

static PyObject *gather_rows(PyObject *self, PyObject *args) {
    Py_buffer in, ps;
    Py_ssize_t width;
    int pad = 0;
    if (!PyArg_ParseTuple(args, "y*y*n|p", &in, &ps, &width, &pad)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t rows = ps.len / (Py_ssize_t)sizeof(int64_t);
    if (width < 0 || (width > 0 && rows > PY_SSIZE_T_MAX / width)) {
        PyErr_SetString(PyExc_ValueError, "bad width");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, rows * width);
    if (out == NULL) goto done;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    const int64_t *pos = (const int64_t *)ps.buf;
    const unsigned char *b = (const unsigned char *)in.buf;
    int64_t size = (int64_t)in.len, hi = size - (int64_t)width;
    if (!pad && hi < 0) {
        memset(o, 0, (size_t)(rows * width));
        goto done;
    }
    for (Py_ssize_t r = 0; r < rows; r++) {
        int64_t a = pos[r];
        unsigned char *row = o + r * width;
        /* rows far apart in the buffer: ask for the ones a few rows ahead (as walk_headers does) */
        if (r + WALK_AHEAD < rows && pos[r + WALK_AHEAD] >= 0 && pos[r + WALK_AHEAD] < size)
            PREFETCH(b + pos[r + WALK_AHEAD]);
        if (a < 0) a = 0;
        if (a <= hi) {
            memcpy(row, b + a, (size_t)width);
        } else if (!pad) {
            memcpy(row, b + hi, (size_t)width);
        } else {
            int64_t have = a < size ? size - a : 0;
            if (have > 0) memcpy(row, b + a, (size_t)have);
            memset(row + have, 0, (size_t)(width - have));
        }
    }
done:
    PyBuffer_Release(&in);
    PyBuffer_Release(&ps);
    return out;
}

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
    uint64_t mask = (uint64_t)cap - 1;
    Py_ssize_t tries = 0;
    for (Py_ssize_t r = 0; r < rows; r++) {
        uint64_t k = keys[r], at = mix64(k) & mask;
        int64_t got = -1;
        /* ``tries`` bounds a walk over a table a caller filled past the rule: never endless */
        for (tries = 0; tries < cap && ids[at] >= 0; tries++, at = (at + 1) & mask) {
            if (slots[at] == k) {
                got = ids[at];
                break;
            }
        }
        o[r] = got;
    }
done:
    PyBuffer_Release(&sl);
    PyBuffer_Release(&id);
    PyBuffer_Release(&ks);
    return out;
}

static PyObject *key_insert(PyObject *self, PyObject *args) {
    Py_buffer sl, id, ks, nw;
    if (!PyArg_ParseTuple(args, "w*w*y*y*", &sl, &id, &ks, &nw)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t cap, rows = ks.len / (Py_ssize_t)sizeof(uint64_t);
    if (!table_size(&sl, &id, &cap)) goto done;
    if (nw.len != ks.len) {
        PyErr_SetString(PyExc_ValueError, "keys and ids differ in size");
        goto done;
    }
    uint64_t *slots = (uint64_t *)sl.buf;
    int64_t *ids = (int64_t *)id.buf;
    const uint64_t *keys = (const uint64_t *)ks.buf;
    const int64_t *fresh = (const int64_t *)nw.buf;
    uint64_t mask = (uint64_t)cap - 1;
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (fresh[r] < 0) {
            PyErr_SetString(PyExc_ValueError, "an id is negative");
            goto done;
        }
        uint64_t k = keys[r], at = mix64(k) & mask;
        Py_ssize_t tries = 0;
        while (ids[at] >= 0 && slots[at] != k) {
            if (++tries == cap) {
                PyErr_SetString(PyExc_ValueError, "the table is full");
                goto done;
            }
            at = (at + 1) & mask;
        }
        slots[at] = k;
        ids[at] = fresh[r];
    }
    out = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&sl);
    PyBuffer_Release(&id);
    PyBuffer_Release(&ks);
    PyBuffer_Release(&nw);
    return out;
}

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
    uint64_t mask = (uint64_t)cap - 1;
    Py_ssize_t fresh = 0, r = 0;
    for (; r < rows; r++) {
        uint64_t k = keys[r], at = mix64(k) & mask;
        Py_ssize_t tries = 0;
        while (ids[at] >= 0 && slots[at] != k) {
            if (++tries == cap) {
                PyErr_SetString(PyExc_ValueError, "the table is full");
                goto done;
            }
            at = (at + 1) & mask;
        }
        if (ids[at] < 0) {
            if (2 * (count + fresh + 1) > cap) break; /* the caller grows the table first */
            slots[at] = k;
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

/* walk_headers' columns (fastwalk.WALK_COLUMNS names them) */
enum { W_STATE, W_LINKBITS, W_ETH_SRC, W_ETH_DST, W_FAMILY, W_SRC4, W_DST4, W_PROTO, W_L3, W_L4, W_L4END, W_SPORT,
       W_DPORT, W_TCPFLAGS, W_PAY, W_COLUMNS };
enum { S_TCP = 1, S_UDP = 2, S_ICMP = 3, S_ARP = 4 };

enum { LB_ETH = 1, LB_VLAN = 2, LB_SLL = 4 };

static inline int64_t be16(const unsigned char *p) { return ((int64_t)p[0] << 8) | p[1]; }
static inline int64_t be32(const unsigned char *p) {
    return ((int64_t)p[0] << 24) | ((int64_t)p[1] << 16) | ((int64_t)p[2] << 8) | p[3];
}
static inline int64_t be48(const unsigned char *p) { return (be16(p) << 32) | be32(p + 2); }

/* one row: 0 when the NumPy walk must decide it, else its state, with ``w`` filled */
static int walk_row(const unsigned char *b, int64_t size, int64_t o, int64_t end, int64_t link, const int64_t *lt,
                    uint64_t emb4, uint64_t emb6, int arp, int64_t **col, Py_ssize_t r, unsigned char *w6) {
    if (o < 0 || end > size || o > end) return 0;
    int64_t etype, l3, bits = 0;
    if (link == lt[0]) { /* Ethernet */
        if (end - o < 14) return 0;
        col[W_ETH_DST][r] = be48(b + o);
        col[W_ETH_SRC][r] = be48(b + o + 6);
        etype = be16(b + o + 12);
        l3 = o + 14;
        bits = LB_ETH;
        for (int k = 0; k < 3 && (etype == 0x8100 || etype == 0x88A8 || etype == 0x9100); k++) {
            if (l3 + 4 > end) return 0;
            etype = be16(b + l3 + 2);
            l3 += 4;
            bits |= LB_VLAN;
        }
        if (etype == 0x8100 || etype == 0x88A8 || etype == 0x9100) return 0;
    } else if (link == lt[1] || link == lt[2] || link == lt[3]) { /* raw IP */
        if (end <= o) return 0;
        int ver = b[o] >> 4;
        etype = ver == 4 ? 0x0800 : ver == 6 ? 0x86DD : -1;
        l3 = o;
    } else if (link == lt[4] || link == lt[5]) {
        if (end <= o) return 0;
        etype = link == lt[4] ? 0x0800 : 0x86DD;
        l3 = o;
    } else if (link == lt[6]) { /* Linux SLL */
        if (end - o < 16) return 0;
        etype = be16(b + o + 14);
        l3 = o + 16;
        bits = LB_SLL;
    } else if (link == lt[7]) { /* Linux SLL2 */
        if (end - o < 20) return 0;
        etype = be16(b + o);
        l3 = o + 20;
        bits = LB_SLL;
    } else {
        return 0;
    }
    if (etype == 0x0806) { /* ARP for IPv4 over Ethernet, all 28 bytes there */
        if (!arp || l3 + 28 > end || be16(b + l3) != 1 || be16(b + l3 + 2) != 0x0800 || b[l3 + 4] != 6 || b[l3 + 5] != 4)
            return 0;
        col[W_LINKBITS][r] = bits;
        col[W_L3][r] = l3;
        col[W_PROTO][r] = -1;
        col[W_PAY][r] = -1;
        return S_ARP;
    }
    int64_t family, proto, l4, l4end;
    if (etype == 0x0800) {
        if (l3 + 20 > end) return 0;
        const unsigned char *h = b + l3;
        int64_t ihl = (int64_t)(h[0] & 15) * 4, tot = be16(h + 2), frag = be16(h + 6);
        if ((h[0] >> 4) != 4 || ihl < 20 || l3 + ihl > end || tot < ihl || (frag & 0x3FFF) != 0) return 0;
        family = 4;
        proto = h[9];
        col[W_SRC4][r] = be32(h + 12);
        col[W_DST4][r] = be32(h + 16);
        l4 = l3 + ihl;
        l4end = l3 + tot < end ? l3 + tot : end;
    } else if (etype == 0x86DD) {
        if (l3 + 40 > end || (b[l3] >> 4) != 6) return 0;
        family = 6;
        proto = b[l3 + 6];
        l4 = l3 + 40;
        l4end = l3 + 40 + be16(b + l3 + 4);
        if (l4end > end) l4end = end;
        memcpy(w6, b + l3 + 8, 32);
    } else {
        return 0;
    }
    int state;
    int64_t sport = 0, dport = 0, flags = 0, pay = -1;
    if (proto == 6) {
        if (l4 + 20 > l4end) return 0;
        int64_t doff = (int64_t)(b[l4 + 12] >> 4) * 4;
        if (doff < 20 || l4 + doff > l4end) return 0;
        sport = be16(b + l4);
        dport = be16(b + l4 + 2);
        flags = b[l4 + 13];
        pay = l4 + doff;
        state = S_TCP;
    } else if (proto == 17) {
        if (l4 + 8 > l4end) return 0;
        sport = be16(b + l4);
        dport = be16(b + l4 + 2);
        pay = l4 + 8;
        state = S_UDP;
    } else if ((proto == 1 && family == 4) || (proto == 58 && family == 6)) {
        if (l4 + 8 > l4end) return 0;
        unsigned t = b[l4];
        if (t < 64 && (((family == 4 ? emb4 : emb6) >> t) & 1)) return 0;
        state = S_ICMP;
    } else {
        return 0;
    }
    col[W_LINKBITS][r] = bits;
    col[W_FAMILY][r] = family;
    col[W_PROTO][r] = proto;
    col[W_L3][r] = l3;
    col[W_L4][r] = l4;
    col[W_L4END][r] = l4end;
    col[W_SPORT][r] = sport;
    col[W_DPORT][r] = dport;
    col[W_TCPFLAGS][r] = flags;
    col[W_PAY][r] = pay;
    return state;
}

static PyObject *walk_headers(PyObject *self, PyObject *args) {
    Py_buffer in, os_, es, ls, out6, lts;
    PyObject *cols;
    unsigned long long emb4, emb6;
    int arp;
    if (!PyArg_ParseTuple(args, "y*y*y*y*O!w*y*KKp", &in, &os_, &es, &ls, &PyTuple_Type, &cols, &out6, &lts, &emb4,
                          &emb6, &arp))
        return NULL;
    PyObject *res = NULL;
    Py_buffer views[W_COLUMNS];
    int64_t *col[W_COLUMNS];
    int held = 0;
    Py_ssize_t rows = os_.len / (Py_ssize_t)sizeof(int64_t);
    if (es.len != os_.len || ls.len != os_.len || out6.len != rows * 32 || lts.len != 8 * (Py_ssize_t)sizeof(int64_t) ||
        PyTuple_GET_SIZE(cols) != W_COLUMNS) {
        PyErr_SetString(PyExc_ValueError, "walk_headers: arrays of different sizes");
        goto done;
    }
    for (; held < W_COLUMNS; held++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(cols, held), &views[held], PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        if (views[held].len != os_.len) {
            held++;
            PyErr_SetString(PyExc_ValueError, "walk_headers: arrays of different sizes");
            goto done;
        }
        col[held] = (int64_t *)views[held].buf;
    }
    const unsigned char *b = (const unsigned char *)in.buf;
    const int64_t *o = (const int64_t *)os_.buf, *e = (const int64_t *)es.buf, *l = (const int64_t *)ls.buf;
    const int64_t *lt = (const int64_t *)lts.buf;
    unsigned char *w6 = (unsigned char *)out6.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < rows; r++) {
        /* the frames are scattered through the file: ask for the headers a few rows ahead, so the
         * misses overlap instead of each row waiting for its own */
        if (r + WALK_AHEAD < rows && o[r + WALK_AHEAD] >= 0 && o[r + WALK_AHEAD] + 128 <= (int64_t)in.len) {
            PREFETCH(b + o[r + WALK_AHEAD]);
            PREFETCH(b + o[r + WALK_AHEAD] + 64);
        }
        col[W_STATE][r] = walk_row(b, (int64_t)in.len, o[r], e[r], l[r], lt, emb4, emb6, arp, col, r, w6 + r * 32);
    }
    Py_END_ALLOW_THREADS
    res = Py_NewRef(Py_None);
done:
    for (int k = 0; k < held; k++) PyBuffer_Release(&views[k]);
    PyBuffer_Release(&in);
    PyBuffer_Release(&os_);
    PyBuffer_Release(&es);
    PyBuffer_Release(&ls);
    PyBuffer_Release(&out6);
    PyBuffer_Release(&lts);
    return res;
}

static PyMethodDef methods[] = {
    {"gather_rows", gather_rows, METH_VARARGS, "The width bytes at each position, row after row."},
    {"pcap_records", pcap_records, METH_VARARGS, "Offsets of a run of sane pcap records."},
    {"pcapng_epbs", pcapng_epbs, METH_VARARGS, "Offsets of a run of well-formed pcapng Enhanced Packet Blocks."},
    {"find_words", find_words, METH_VARARGS, "Rows whose bytes contain any of the words, in any letter case."},
    {"key_lookup", key_lookup, METH_VARARGS, "Ids of u64 keys in an open-addressing table, -1 where absent."},
    {"key_insert", key_insert, METH_VARARGS, "Put u64 keys with their ids into an open-addressing table."},
    {"key_claim", key_claim, METH_VARARGS, "Ids of u64 keys, new keys put in the table numbered from a base."},
    {"walk_headers", walk_headers, METH_VARARGS, "The index's layer walk over the plain packet shapes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
