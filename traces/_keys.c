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
 * wide_insert(lo, hi, ids, keys_lo, keys_hi, new_ids) -> None
 *     ``key_insert`` for a table of 128-bit keys, each held as two u64 halves: three arrays of one
 *     power-of-two size, ``lo`` and ``hi`` (uint64) and ``ids`` (int64, -1 where a slot is empty).
 *
 * conversations(rows, cols, eth, ip, l4, bases, out) -> (eth_new, ip_new, l4_new, done)
 *     The Ethernet, IPv4 and TCP/UDP-over-IPv4 conversations of many frames in one pass (the
 *     layer walk's columns; ``fastclassify._conversations`` is the NumPy reference).  ``cols``:
 *     (is_eth, eth_src, eth_dst, family, ip_src4, ip_dst4, proto, sport, dport), one byte a row
 *     for ``is_eth``, int64 for the rest; ``rows``: the int64 rows of ``cols`` to read.  A
 *     conversation's key is its two sides, the lower first: the MAC pair (a 128-bit ``eth``
 *     table), the IPv4 pair packed as lo << 32 | hi (a u64 ``ip`` table: ``key_claim``'s), and
 *     for TCP and UDP that packed pair with udp << 32 | port_a << 16 | port_b (a 128-bit ``l4``
 *     table), where side A of the ports is the frame's source unless the frame's source address
 *     is side B (or, between equal addresses, its source port is the higher).  A table is given
 *     as (lo, hi, ids, count) or (slots, ids, count), ``count`` the keys in it.  Into ``out``,
 *     writable arrays (eth_ids, ip_ids, l4_ids, flags) of at least one item per row, per row:
 *     the int64 id of each conversation (0 where the frame has none: not Ethernet, not IPv4, not
 *     TCP/UDP), a table's new keys numbered from its entry of ``bases`` in the order they first
 *     come, and put in the table with those numbers (the caller renumbers them if it must); and
 *     ``flags``, one byte: 1 the source MAC is side B, 2 the source address is, 4 the source port
 *     is.  Returned: per table, the rows where its new keys first came (int64), and ``done``, the
 *     rows read.  It stops before a row where a table could not take one more key at most half
 *     full: the caller grows that table and goes on from there.
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

/* The slot holding ``k``, or the empty slot where its probe ends (then ids[slot] < 0); -1 when
 * the table has neither: full, which a caller keeping it half full never lets happen, but the
 * walk stays bounded if one does not. */
static Py_ssize_t probe(const uint64_t *slots, const int64_t *ids, Py_ssize_t cap, uint64_t k) {
    uint64_t mask = (uint64_t)cap - 1, at = mix64(k) & mask;
    for (Py_ssize_t tries = 0; tries < cap; tries++, at = (at + 1) & mask)
        if (ids[at] < 0 || slots[at] == k) return (Py_ssize_t)at;
    return -1;
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
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (fresh[r] < 0) {
            PyErr_SetString(PyExc_ValueError, "an id is negative");
            goto done;
        }
        Py_ssize_t at = probe(slots, ids, cap, keys[r]);
        if (at < 0) {
            PyErr_SetString(PyExc_ValueError, "the table is full");
            goto done;
        }
        slots[at] = keys[r];
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

/* -- 128-bit keys (two u64 halves) ---------------------------------------------------------- */
static inline uint64_t mix128(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b)); }

static Py_ssize_t probe2(const uint64_t *lo, const uint64_t *hi, const int64_t *ids, Py_ssize_t cap, uint64_t a,
                         uint64_t b) {
    uint64_t mask = (uint64_t)cap - 1, at = mix128(a, b) & mask;
    for (Py_ssize_t tries = 0; tries < cap; tries++, at = (at + 1) & mask)
        if (ids[at] < 0 || (lo[at] == a && hi[at] == b)) return (Py_ssize_t)at;
    return -1;
}

static PyObject *wide_insert(PyObject *self, PyObject *args) {
    Py_buffer lo, hi, id, kl, kh, nw;
    if (!PyArg_ParseTuple(args, "w*w*w*y*y*y*", &lo, &hi, &id, &kl, &kh, &nw)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t cap, rows = kl.len / (Py_ssize_t)sizeof(uint64_t);
    if (!table_size(&lo, &id, &cap)) goto done;
    if (hi.len != lo.len || kh.len != kl.len || nw.len != kl.len) {
        PyErr_SetString(PyExc_ValueError, "arrays differ in size");
        goto done;
    }
    uint64_t *slo = (uint64_t *)lo.buf, *shi = (uint64_t *)hi.buf;
    int64_t *ids = (int64_t *)id.buf;
    const uint64_t *a = (const uint64_t *)kl.buf, *b = (const uint64_t *)kh.buf;
    const int64_t *fresh = (const int64_t *)nw.buf;
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (fresh[r] < 0) {
            PyErr_SetString(PyExc_ValueError, "an id is negative");
            goto done;
        }
        Py_ssize_t at = probe2(slo, shi, ids, cap, a[r], b[r]);
        if (at < 0) {
            PyErr_SetString(PyExc_ValueError, "the table is full");
            goto done;
        }
        slo[at] = a[r];
        shi[at] = b[r];
        ids[at] = fresh[r];
    }
    out = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&lo);
    PyBuffer_Release(&hi);
    PyBuffer_Release(&id);
    PyBuffer_Release(&kl);
    PyBuffer_Release(&kh);
    PyBuffer_Release(&nw);
    return out;
}

/* one table of ``conversations``: 128-bit (``hi`` set) or u64 keys, the new keys it was given */
typedef struct {
    Py_buffer b[3];
    int nb;
    uint64_t *lo, *hi;
    int64_t *ids;
    Py_ssize_t cap, count, fresh;
    int64_t base, *first;
} table_t;

static int open_table(PyObject *spec, table_t *t, int wide) {
    t->nb = 0;
    int want = wide ? 4 : 3;
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != want) {
        PyErr_SetString(PyExc_TypeError, wide ? "a wide table is (lo, hi, ids, count)" : "a table is (slots, ids, count)");
        return 0;
    }
    for (int k = 0; k < want - 1; k++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(spec, k), &t->b[k], PyBUF_WRITABLE) < 0) return 0;
        t->nb++;
    }
    t->count = PyLong_AsSsize_t(PyTuple_GET_ITEM(spec, want - 1));
    if (t->count == -1 && PyErr_Occurred()) return 0;
    Py_buffer *ids = &t->b[want - 2];
    if (!table_size(&t->b[0], ids, &t->cap)) return 0;
    if (wide && t->b[1].len != t->b[0].len) {
        PyErr_SetString(PyExc_ValueError, "lo and hi differ in size");
        return 0;
    }
    if (t->count < 0 || 2 * t->count > t->cap) {
        PyErr_SetString(PyExc_ValueError, "a table is more than half full");
        return 0;
    }
    t->lo = (uint64_t *)t->b[0].buf;
    t->hi = wide ? (uint64_t *)t->b[1].buf : NULL;
    t->ids = (int64_t *)ids->buf;
    t->fresh = 0;
    return 1;
}

static void close_table(table_t *t) {
    for (int k = 0; k < t->nb; k++) PyBuffer_Release(&t->b[k]);
    t->nb = 0;
}

/* the id of key (a, b) (b unused in a u64 table), claimed numbered ``base`` + fresh when new */
static inline int64_t claim(table_t *t, uint64_t a, uint64_t b, Py_ssize_t row) {
    Py_ssize_t at = t->hi ? probe2(t->lo, t->hi, t->ids, t->cap, a, b) : probe(t->lo, t->ids, t->cap, a);
    /* (at >= 0: the loop stops before a table could pass half full) */
    if (t->ids[at] < 0) {
        t->lo[at] = a;
        if (t->hi) t->hi[at] = b;
        t->ids[at] = t->base + t->fresh;
        t->first[t->fresh++] = row;
    }
    return t->ids[at];
}

enum { C_IS_ETH, C_ETH_SRC, C_ETH_DST, C_FAMILY, C_SRC4, C_DST4, C_PROTO, C_SPORT, C_DPORT, N_COLS };

static PyObject *conversations(PyObject *self, PyObject *args) {
    Py_buffer rb, cb[N_COLS];
    Py_buffer ob[4];
    PyObject *cols, *specs[3];
    long long bases[3];
    if (!PyArg_ParseTuple(args, "y*O!OOO(LLL)(w*w*w*w*)", &rb, &PyTuple_Type, &cols, &specs[0], &specs[1], &specs[2],
                          &bases[0], &bases[1], &bases[2], &ob[0], &ob[1], &ob[2], &ob[3]))
        return NULL;
    int ncb = 0;
    table_t tables[3] = {{.nb = 0}, {.nb = 0}, {.nb = 0}};
    PyObject *out[3] = {NULL}, *res = NULL;
    Py_ssize_t n = rb.len / (Py_ssize_t)sizeof(int64_t), len = 0;
    if (PyTuple_GET_SIZE(cols) != N_COLS) {
        PyErr_SetString(PyExc_TypeError, "cols must be 9 arrays");
        goto done;
    }
    for (; ncb < N_COLS; ncb++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(cols, ncb), &cb[ncb], PyBUF_SIMPLE) < 0) goto done;
        Py_ssize_t each = ncb == C_IS_ETH ? 1 : (Py_ssize_t)sizeof(int64_t), rows_here = cb[ncb].len / each;
        if (ncb == 0) len = rows_here;
        if (rows_here != len || cb[ncb].len % each) {
            ncb++;
            PyErr_SetString(PyExc_ValueError, "the columns differ in size");
            goto done;
        }
    }
    for (int k = 0; k < 3; k++) {
        if (!open_table(specs[k], &tables[k], k != 1)) goto done;
        if (bases[k] < 0) {
            PyErr_SetString(PyExc_ValueError, "a negative base");
            goto done;
        }
        tables[k].base = (int64_t)bases[k];
    }
    for (int k = 0; k < 4; k++) {
        if (ob[k].len < n * (k < 3 ? (Py_ssize_t)sizeof(int64_t) : 1)) {
            PyErr_SetString(PyExc_ValueError, "an output array is shorter than the rows");
            goto done;
        }
    }
    for (int k = 0; k < 3; k++) {
        out[k] = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
        if (out[k] == NULL) goto done;
        tables[k].first = (int64_t *)PyBytes_AS_STRING(out[k]);
    }
    const int64_t *rows = (const int64_t *)rb.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (rows[i] < 0 || rows[i] >= len) {
            PyErr_SetString(PyExc_IndexError, "a row is outside the columns");
            goto done;
        }
    }
    const unsigned char *is_eth = (const unsigned char *)cb[C_IS_ETH].buf;
    const int64_t *c[N_COLS];
    for (int k = 1; k < N_COLS; k++) c[k] = (const int64_t *)cb[k].buf;
    int64_t *eth_ids = (int64_t *)ob[0].buf, *ip_ids = (int64_t *)ob[1].buf, *l4_ids = (int64_t *)ob[2].buf;
    unsigned char *flags = (unsigned char *)ob[3].buf;
    Py_ssize_t i = 0;
    for (; i < n; i++) {
        int room = 1;
        for (int k = 0; k < 3; k++) room &= 2 * (tables[k].count + tables[k].fresh + 1) <= tables[k].cap;
        if (!room) break; /* the caller grows the table first */
        Py_ssize_t r = (Py_ssize_t)rows[i];
        unsigned char f = 0;
        eth_ids[i] = ip_ids[i] = l4_ids[i] = 0;
        if (is_eth[r]) {
            uint64_t s = (uint64_t)c[C_ETH_SRC][r], t = (uint64_t)c[C_ETH_DST][r];
            uint64_t lo = s < t ? s : t, hi = s < t ? t : s;
            if (s != lo) f |= 1;
            eth_ids[i] = claim(&tables[0], lo, hi, i);
        }
        if (c[C_FAMILY][r] == 4) {
            uint64_t s = (uint64_t)c[C_SRC4][r], t = (uint64_t)c[C_DST4][r];
            uint64_t lo = s < t ? s : t, hi = s < t ? t : s, pair = lo << 32 | hi;
            int rev = s != lo;
            if (rev) f |= 2;
            ip_ids[i] = claim(&tables[1], pair, 0, i);
            int64_t proto = c[C_PROTO][r];
            if (proto == 6 || proto == 17) {
                int64_t sp = c[C_SPORT][r], dp = c[C_DPORT][r];
                int swap = s == t ? sp > dp : rev;
                uint64_t pa = (uint64_t)(swap ? dp : sp), pb = (uint64_t)(swap ? sp : dp);
                if (swap) f |= 4;
                l4_ids[i] = claim(&tables[2], pair, (uint64_t)(proto == 17) << 32 | pa << 16 | pb, i);
            }
        }
        flags[i] = f;
    }
    for (int k = 0; k < 3; k++)
        if (_PyBytes_Resize(&out[k], tables[k].fresh * (Py_ssize_t)sizeof(int64_t)) < 0) goto done;
    res = Py_BuildValue("(OOOn)", out[0], out[1], out[2], i);
done:
    for (int k = 0; k < 3; k++) Py_XDECREF(out[k]);
    for (int k = 0; k < 4; k++) PyBuffer_Release(&ob[k]);
    for (int k = 0; k < 3; k++) close_table(&tables[k]);
    for (int k = 0; k < ncb; k++) PyBuffer_Release(&cb[k]);
    PyBuffer_Release(&rb);
    return res;
}

static PyMethodDef methods[] = {
    {"key_lookup", key_lookup, METH_VARARGS, "Ids of u64 keys in an open-addressing table, -1 where absent."},
    {"key_insert", key_insert, METH_VARARGS, "Put u64 keys with their ids into an open-addressing table."},
    {"key_claim", key_claim, METH_VARARGS, "Ids of u64 keys, new keys put in the table numbered from a base."},
    {"wide_insert", wide_insert, METH_VARARGS, "Put 128-bit keys with their ids into an open-addressing table."},
    {"conversations", conversations, METH_VARARGS, "Ethernet, IPv4 and TCP/UDP conversation ids of many frames."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_keys", NULL, -1, methods};

PyMODINIT_FUNC PyInit__keys(void) { return PyModule_Create(&module); }
