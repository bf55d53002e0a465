/* Per-record loops of the index in C: walking a pcap file's record chain, a case-insensitive
 * word search in many payloads, header rows at many offsets, and a hash table of conversation
 * keys.  Optional: without a compiler, pcap.py, fastapps.py, gather.py and fastclassify.py run the
 * same work in Python and NumPy (tests/test_scan_native.py holds both to the same results).
 *
 * pcap_records(buf, pos, want, little, limit) -> (starts, pos)
 *     From record header offset ``pos``, the offsets of up to ``want`` records whose captured length
 *     is non-zero, at most ``limit`` and inside the buffer, as native int64 bytes; ``pos`` after the
 *     last one.  It stops before the first record that is not so (the caller looks closer).
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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* how far ahead of the record walk the file's lines are prefetched */
#define PREFETCH_BYTES 4096
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

static PyMethodDef methods[] = {
    {"gather_rows", gather_rows, METH_VARARGS, "The width bytes at each position, row after row."},
    {"pcap_records", pcap_records, METH_VARARGS, "Offsets of a run of sane pcap records."},
    {"find_words", find_words, METH_VARARGS, "Rows whose bytes contain any of the words, in any letter case."},
    {"key_lookup", key_lookup, METH_VARARGS, "Ids of u64 keys in an open-addressing table, -1 where absent."},
    {"key_insert", key_insert, METH_VARARGS, "Put u64 keys with their ids into an open-addressing table."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
