/* Per-record loops of the index in C: walking a pcap file's record chain and a pcapng file's
 * packet blocks, a case-insensitive word search in many payloads, and header rows at many
 * offsets.  (The layer walk is _walk.c, the key tables _keys.c.)  Optional: without a compiler,
 * pcap.py, pcapng.py, fastapps.py and gather.py run the same loops in Python and NumPy
 * (tests/test_scan_native.py holds both to the same results).
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
 * find_words(buf, starts, lengths, words, headers=False) -> bytes
 *     One byte per (start, length) row of the int64 arrays: 1 when any of ``words`` (lower-case
 *     ASCII letters) occurs in buf[start : start + length] in any letter case.  Rows outside the
 *     buffer are cut to it.  With ``headers`` a row ends at its first blank line ("\n\n" or
 *     "\n\r\n"), where the header block of an HTTP-like message ends.
 *
 * gather_rows(buf, pos, width, pad=False) -> bytes
 *     The ``width`` bytes at each int64 position of ``pos``, one row after another (rows x width):
 *     a header read at 100,000 offsets without NumPy's index temporaries.  A negative position
 *     counts as 0.  Without ``pad`` a position past len(buf) - width is moved back to it, as
 *     ``np.clip`` does (the callers check bounds themselves and ignore such rows), and a buffer
 *     shorter than ``width`` gives rows of zeros; with ``pad`` such a row holds the bytes up to
 *     the end of the buffer, then zeros.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* how far ahead of the record walk the file's lines are prefetched */
#define PREFETCH_BYTES 4096
/* rows ahead whose bytes are prefetched where rows lie far apart (gather_rows) */
#define WALK_AHEAD 16
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

static inline uint32_t u32_at(const unsigned char *h, int little) {
    return little ? ((uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24)
                  : ((uint32_t)h[3] | (uint32_t)h[2] << 8 | (uint32_t)h[1] << 16 | (uint32_t)h[0] << 24);
}

/* The length of the sane record at ``pos`` (0: not one; the walk stops before it). */
typedef Py_ssize_t (*record_len)(const unsigned char *b, Py_ssize_t size, Py_ssize_t pos, int little,
                                 Py_ssize_t limit);

/* a pcap record: a 16-byte header whose captured length is non-zero, at most ``limit``, inside */
static Py_ssize_t pcap_record(const unsigned char *b, Py_ssize_t size, Py_ssize_t pos, int little, Py_ssize_t limit) {
    if (pos + 16 > size) return 0;
    uint32_t caplen = u32_at(b + pos + 8, little);
    if (caplen == 0 || (Py_ssize_t)caplen > limit || (Py_ssize_t)caplen > size - pos - 16) return 0;
    return 16 + (Py_ssize_t)caplen;
}

/* a pcapng Enhanced Packet Block, well formed on the outside */
static Py_ssize_t pcapng_epb(const unsigned char *b, Py_ssize_t size, Py_ssize_t pos, int little, Py_ssize_t limit) {
    if (pos + 12 > size) return 0;
    uint32_t btype = u32_at(b + pos, little), blen = u32_at(b + pos + 4, little);
    if (btype != 6 || blen < 32 || (blen & 3) || (Py_ssize_t)blen > limit || (Py_ssize_t)blen > size - pos ||
        u32_at(b + pos + blen - 4, little) != blen)
        return 0;
    return (Py_ssize_t)blen;
}

/* pcap_records and pcapng_epbs: (buf, pos, want, little, limit) -> (starts, pos) */
static PyObject *chain(PyObject *args, record_len step) {
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
    Py_ssize_t size = in.len, n = 0, len;
    /* Each record's length says where the next one is: a chain of dependent loads, one cache miss
     * per record.  The records tile the file, so every line ahead is wanted: prefetch them. */
    Py_ssize_t ahead = pos;
    while (n < want && (len = step(b, size, pos, little, limit)) > 0) {
        starts[n++] = pos;
        pos += len;
        Py_ssize_t goal = pos + PREFETCH_BYTES < size ? pos + PREFETCH_BYTES : size;
        for (; ahead < goal; ahead += 64) PREFETCH(b + ahead);
    }
    PyBuffer_Release(&in);
    if (_PyBytes_Resize(&out, n * (Py_ssize_t)sizeof(int64_t)) < 0) return NULL;
    return Py_BuildValue("(Nn)", out, pos);
}

static PyObject *pcap_records(PyObject *self, PyObject *args) { return chain(args, pcap_record); }

static PyObject *pcapng_epbs(PyObject *self, PyObject *args) { return chain(args, pcapng_epb); }

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

/* the length of p[0:n] up to its first blank line ("\n\n" or "\n\r\n"), or n */
static Py_ssize_t header_block(const unsigned char *p, Py_ssize_t n) {
    const unsigned char *q = p, *end = p + n;
    while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
        if (q + 1 < end && q[1] == '\n') return q - p;
        if (q + 2 < end && q[1] == '\r' && q[2] == '\n') return q - p;
        q++;
    }
    return n;
}

static PyObject *find_words(PyObject *self, PyObject *args) {
    Py_buffer in, st, ln;
    PyObject *words;
    int headers = 0;
    if (!PyArg_ParseTuple(args, "y*y*y*O!|p", &in, &st, &ln, &PyTuple_Type, &words, &headers)) return NULL;
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
        if (headers && e > a) e = a + header_block(b + a, (Py_ssize_t)(e - a));
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

static PyMethodDef methods[] = {
    {"gather_rows", gather_rows, METH_VARARGS, "The width bytes at each position, row after row."},
    {"pcap_records", pcap_records, METH_VARARGS, "Offsets of a run of sane pcap records."},
    {"pcapng_epbs", pcapng_epbs, METH_VARARGS, "Offsets of a run of well-formed pcapng Enhanced Packet Blocks."},
    {"find_words", find_words, METH_VARARGS, "Rows whose bytes contain any of the words, in any letter case."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
