/*
 * MS-XCA "plain LZ77" decompression for ETW buffers, in C: the same algorithm and the same
 * accept/reject decisions as xpress.py's pure-Python decoder (the fallback when this extension
 * is not built), 20-30 times faster on the sample buffers.  Output is bounded by the caller's
 * out_size; every read is bounds-checked; the GIL is released while inflating.
 *
 * On damage it raises ValueError(position, cause), which xpress.py turns into XpressError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OUT ((Py_ssize_t)1 << 31)

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Returns NULL on success, else a static cause; *where is the input position of the damage. */
static const char *inflate(const uint8_t *src, size_t n, uint8_t *out, size_t out_size,
                           size_t *where, size_t *produced, uint64_t *detail) {
    size_t ip = 0;      /* input position; may run past n inside a literal run, as in Python */
    uint64_t olen = 0;  /* logical output length; bytes past out_size are counted, not stored */
    long long half = -1;
    while (olen < out_size) {
        if (ip + 4 > n) { *where = ip; *produced = (size_t)olen; return "input ends"; }
        uint32_t flags = le32(src + ip);
        ip += 4;
        for (int c = 31; c >= 0; c--) {
            if (!(flags & ((uint32_t)1 << c))) {          /* literal */
                if (ip < n) {
                    if (olen < out_size) out[olen] = src[ip];
                    olen++;
                }
                ip++;
                continue;
            }
            if (ip + 2 > n) {                             /* a match flag with no input left */
                *where = ip; *produced = (size_t)(olen < out_size ? olen : out_size);
                if (ip >= n && olen == out_size) return NULL;
                return "stream ends";
            }
            uint32_t mb = le16(src + ip);
            ip += 2;
            uint64_t length = mb & 7;
            uint64_t offset = (mb >> 3) + 1;
            int fast = 0;
            if (length != 7) {
                length += 3;
                fast = offset >= length && olen >= offset;
            } else {
                if (half < 0) {
                    if (ip >= n) { *where = n; return "truncated match length"; }
                    length = src[ip] & 15;
                    half = (long long)ip;
                    ip++;
                } else {
                    length = src[half] >> 4;
                    half = -1;
                }
                if (length == 15) {
                    if (ip >= n) { *where = n; return "truncated match length"; }
                    length = src[ip];
                    ip++;
                    if (length == 255) {
                        if (ip + 2 > n) { *where = ip; return "truncated match length"; }
                        length = le16(src + ip);
                        ip += 2;
                        if (length == 0) {
                            if (ip + 4 > n) { *where = ip; return "truncated match length"; }
                            length = le32(src + ip);
                            ip += 4;
                        }
                        if (length < 22) { *where = ip; *detail = length; return "match length below 22"; }
                        length -= 22;
                    }
                    length += 15;
                }
                length += 10;
            }
            if (!fast) {
                if (olen < offset) { *where = ip; *detail = offset; *produced = (size_t)olen;
                                     return "match offset before the start of the output"; }
                if (olen + length > out_size) { *where = ip; *detail = length; return "match overruns the output"; }
            }
            /* forward byte copy: overlapping matches repeat the last `offset` bytes */
            for (uint64_t k = 0; k < length; k++, olen++) {
                if (olen < out_size) out[olen] = out[olen - offset];
            }
        }
        if (ip > n && olen < out_size) { *where = n; *produced = (size_t)olen; return "input ends inside a literal run"; }
    }
    *produced = out_size;
    return NULL;
}

static PyObject *py_decompress(PyObject *self, PyObject *args) {
    Py_buffer in, into = {.buf = NULL};
    Py_ssize_t out_size;
    PyObject *target = Py_None;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*n|O", &in, &out_size, &target)) return NULL;
    if (out_size < 0 || out_size > MAX_OUT) {
        PyBuffer_Release(&in);
        return PyErr_Format(PyExc_ValueError, "output size %zd out of range", out_size);
    }
    /* into ``target`` (a writable buffer of exactly out_size bytes) when one is given, else a new bytes */
    PyObject *result = NULL;
    uint8_t *out;
    if (target != Py_None) {
        if (PyObject_GetBuffer(target, &into, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
            PyBuffer_Release(&in);
            return NULL;
        }
        if (into.len != out_size) {
            PyBuffer_Release(&in);
            PyBuffer_Release(&into);
            return PyErr_Format(PyExc_ValueError, "the output holds %zd bytes, not %zd", into.len, out_size);
        }
        out = (uint8_t *)into.buf;
    } else {
        result = PyBytes_FromStringAndSize(NULL, out_size);
        if (result == NULL) { PyBuffer_Release(&in); return NULL; }
        out = (uint8_t *)PyBytes_AS_STRING(result);
    }
    size_t where = 0, produced = 0;
    uint64_t detail = 0;
    const char *cause;
    Py_BEGIN_ALLOW_THREADS
    cause = inflate((const uint8_t *)in.buf, (size_t)in.len, out, (size_t)out_size, &where, &produced, &detail);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    if (into.buf != NULL) PyBuffer_Release(&into);
    if (cause != NULL) {
        Py_XDECREF(result);
        PyObject *msg;
        if (strcmp(cause, "input ends") == 0 || strcmp(cause, "stream ends") == 0 ||
            strcmp(cause, "input ends inside a literal run") == 0)
            msg = PyUnicode_FromFormat("%s after %zu of %zd bytes", cause, produced, out_size);
        else if (detail)
            msg = PyUnicode_FromFormat("%s (%llu)", cause, (unsigned long long)detail);
        else
            msg = PyUnicode_FromString(cause);
        if (msg == NULL) return NULL;
        PyObject *err = Py_BuildValue("(nN)", (Py_ssize_t)where, msg);
        if (err != NULL) { PyErr_SetObject(PyExc_ValueError, err); Py_DECREF(err); }
        return NULL;
    }
    return result != NULL ? result : Py_NewRef(Py_None);
}

/*
 * Record bytes for field columns (etw/bulk.py): the wanted records of many buffers copied into
 * one array, each compressed buffer inflated once into a scratch area (never kept).  The same
 * bounds as bulk.py's NumPy path: a record that does not fit its buffer, a buffer cut off by the
 * end of the file or one that does not inflate marks that buffer in the returned status and
 * nothing of it is copied.  The GIL is released for the whole call, so two threads can share
 * the work.
 *
 * extract_records(src, bufs, rec_start, recs, out) -> bytes (one status per buffer: 0 ok,
 * 1 cut off, 2 does not inflate, 3 a record outside its buffer or the output)
 *   bufs:      int64 (nb, 4): file offset, bytes on disk, FilledBytes, compressed (0/1)
 *   rec_start: int64 (nb + 1): buffer k's records are recs[rec_start[k]:rec_start[k+1]]
 *   recs:      int64 (m, 3): offset in the buffer, length, position in out
 */
#define BUFFER_HEADER 0x48

static PyObject *py_extract_records(PyObject *self, PyObject *args) {
    Py_buffer src, bufs, starts, recs, out;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*", &src, &bufs, &starts, &recs, &out)) return NULL;
    PyObject *status = NULL;
    uint8_t *scratch = NULL;
    const char *err = NULL;
    Py_ssize_t nb = bufs.len / (Py_ssize_t)(4 * sizeof(int64_t));
    Py_ssize_t m = recs.len / (Py_ssize_t)(3 * sizeof(int64_t));
    if (bufs.len % (4 * sizeof(int64_t)) || recs.len % (3 * sizeof(int64_t)) ||
        starts.len != (Py_ssize_t)((nb + 1) * sizeof(int64_t))) {
        err = "array shapes do not fit";
        goto done;
    }
    status = PyBytes_FromStringAndSize(NULL, nb);
    if (status == NULL) goto done;
    {
        const uint8_t *s = (const uint8_t *)src.buf;
        size_t slen = (size_t)src.len;
        const int64_t *b = (const int64_t *)bufs.buf;
        const int64_t *rs = (const int64_t *)starts.buf;
        const int64_t *r = (const int64_t *)recs.buf;
        uint8_t *o = (uint8_t *)out.buf;
        size_t olen = (size_t)out.len;
        uint8_t *st = (uint8_t *)PyBytes_AS_STRING(status);
        size_t cap = 0;
        int nomem = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t k = 0; k < nb; k++) {
            int64_t fo = b[4 * k], disk = b[4 * k + 1], filled = b[4 * k + 2], comp = b[4 * k + 3];
            int64_t r0 = rs[k], r1 = rs[k + 1];
            const uint8_t *data;
            int64_t avail;
            st[k] = 0;
            if (r0 < 0 || r1 < r0 || r1 > m) { st[k] = 3; continue; }
            if (fo < 0 || filled < 0 || disk < 0) { st[k] = 1; continue; }
            if (comp) {
                int64_t stop = fo + (disk < filled ? disk : filled);
                if (stop > (int64_t)slen || filled < BUFFER_HEADER || stop < fo + BUFFER_HEADER) { st[k] = 1; continue; }
                if ((size_t)filled > cap) {
                    free(scratch);
                    scratch = (uint8_t *)malloc((size_t)filled);
                    cap = scratch ? (size_t)filled : 0;
                    if (!scratch) { nomem = 1; break; }
                }
                size_t where = 0, produced = 0;
                uint64_t detail = 0;
                memcpy(scratch, s + fo, BUFFER_HEADER);
                if (inflate(s + fo + BUFFER_HEADER, (size_t)(stop - fo - BUFFER_HEADER), scratch + BUFFER_HEADER,
                            (size_t)(filled - BUFFER_HEADER), &where, &produced, &detail) != NULL) {
                    st[k] = 2;
                    continue;
                }
                data = scratch;
                avail = filled;
            } else {
                avail = filled < disk ? filled : disk;
                if (fo > (int64_t)slen) { st[k] = 1; continue; }
                if (fo + avail > (int64_t)slen) avail = (int64_t)slen - fo;
                data = s + fo;
            }
            for (int64_t j = r0; j < r1; j++) {
                int64_t off = r[3 * j], len = r[3 * j + 1], dst = r[3 * j + 2];
                if (off < 0 || len < 0 || dst < 0 || off + len > avail || (size_t)(dst + len) > olen) { st[k] = 3; break; }
            }
            if (st[k]) continue;
            for (int64_t j = r0; j < r1; j++)
                memcpy(o + r[3 * j + 2], data + r[3 * j], (size_t)r[3 * j + 1]);
        }
        Py_END_ALLOW_THREADS
        if (nomem) { Py_CLEAR(status); PyErr_NoMemory(); }
    }
done:
    free(scratch);
    PyBuffer_Release(&src);
    PyBuffer_Release(&bufs);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&recs);
    PyBuffer_Release(&out);
    if (err != NULL) { Py_XDECREF(status); PyErr_SetString(PyExc_ValueError, err); return NULL; }
    return status;
}

/*
 * String lengths for field columns (etw/fieldcols.py): from each pos, the bytes before the first
 * NUL (ANSI) or the first NUL code unit at an even distance from pos (UTF-16), searching only
 * below end; -1 where there is none.  The NumPy search in fieldcols.py is the fallback and the
 * reference it is tested against.
 *
 * terminated_lengths(blob, pos, end, wide) -> None (writes lengths into pos' companion out array)
 */
static PyObject *py_terminated_lengths(PyObject *self, PyObject *args) {
    Py_buffer blob, pos, end, out;
    int wide;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*w*p", &blob, &pos, &end, &out, &wide)) return NULL;
    Py_ssize_t n = pos.len / (Py_ssize_t)sizeof(int64_t);
    if (pos.len % sizeof(int64_t) || end.len != pos.len || out.len != pos.len) {
        PyBuffer_Release(&blob); PyBuffer_Release(&pos); PyBuffer_Release(&end); PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "array shapes do not fit");
        return NULL;
    }
    const uint8_t *u = (const uint8_t *)blob.buf;
    int64_t ulen = (int64_t)blob.len;
    const int64_t *p = (const int64_t *)pos.buf, *e = (const int64_t *)end.buf;
    int64_t *o = (int64_t *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < n; k++) {
        int64_t a = p[k], z = e[k] < ulen ? e[k] : ulen, got = -1;
        if (a < 0) a = z;
        if (wide) {
            for (int64_t i = a; i + 1 < z; i += 2)
                if (u[i] == 0 && u[i + 1] == 0) { got = i - a; break; }
        } else if (a < z) {
            const uint8_t *hit = memchr(u + a, 0, (size_t)(z - a));
            if (hit) got = hit - (u + a);
        }
        o[k] = got;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&blob); PyBuffer_Release(&pos); PyBuffer_Release(&end); PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

/*
 * Dictionary encoding of byte strings (fieldcols.encode_bytes): a 64-bit hash of each span
 * blob[start:start+length] (its length mixed in), and whether two spans hold the same bytes,
 * so the distinct strings are found by sorting integers.  The NumPy row hash in fieldcols.py is
 * the fallback.  Spans outside the blob raise ValueError before anything is read.
 *
 * span_hashes(blob, start, length, out)        out: uint64 per span
 * spans_equal(blob, a, b, length, out)         out: uint8 per pair (spans a[k], b[k] of length[k])
 */
/* spans ahead whose first bytes are fetched while the current one is read */
#define SPAN_AHEAD 16
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

static int spans_fit(const int64_t *st, const int64_t *ln, Py_ssize_t n, int64_t size) {
    for (Py_ssize_t k = 0; k < n; k++)
        if (st[k] < 0 || ln[k] < 0 || ln[k] > size || st[k] > size - ln[k]) return 0;
    return 1;
}

static PyObject *py_span_hashes(PyObject *self, PyObject *args) {
    Py_buffer blob, start, length, out;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &blob, &start, &length, &out)) return NULL;
    Py_ssize_t n = start.len / (Py_ssize_t)sizeof(int64_t);
    const char *err = NULL;
    if (start.len % sizeof(int64_t) || length.len != start.len || out.len != start.len) err = "array shapes do not fit";
    else if (!spans_fit((const int64_t *)start.buf, (const int64_t *)length.buf, n, (int64_t)blob.len))
        err = "a span lies outside the data";
    if (err == NULL) {
        const uint8_t *u = (const uint8_t *)blob.buf;
        const int64_t *st = (const int64_t *)start.buf, *ln = (const int64_t *)length.buf;
        uint64_t *o = (uint64_t *)out.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t k = 0; k < n; k++) {
            if (k + SPAN_AHEAD < n) PREFETCH(u + st[k + SPAN_AHEAD]); /* spans may lie far apart (in a file) */
            uint64_t h = 0xcbf29ce484222325ULL ^ ((uint64_t)ln[k] * 0x9E3779B97F4A7C15ULL);
            const uint8_t *p = u + st[k];
            for (int64_t i = 0; i < ln[k]; i++) { h ^= p[i]; h *= 0x100000001b3ULL; }
            h ^= h >> 29; h *= 0xbf58476d1ce4e5b9ULL; h ^= h >> 32;
            o[k] = h;
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&blob); PyBuffer_Release(&start); PyBuffer_Release(&length); PyBuffer_Release(&out);
    if (err != NULL) { PyErr_SetString(PyExc_ValueError, err); return NULL; }
    Py_RETURN_NONE;
}

static PyObject *py_spans_equal(PyObject *self, PyObject *args) {
    Py_buffer blob, a, b, length, out;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*", &blob, &a, &b, &length, &out)) return NULL;
    Py_ssize_t n = a.len / (Py_ssize_t)sizeof(int64_t);
    const char *err = NULL;
    if (a.len % sizeof(int64_t) || b.len != a.len || length.len != a.len || out.len != n)
        err = "array shapes do not fit";
    else if (!spans_fit((const int64_t *)a.buf, (const int64_t *)length.buf, n, (int64_t)blob.len) ||
             !spans_fit((const int64_t *)b.buf, (const int64_t *)length.buf, n, (int64_t)blob.len))
        err = "a span lies outside the data";
    if (err == NULL) {
        const uint8_t *u = (const uint8_t *)blob.buf;
        const int64_t *pa = (const int64_t *)a.buf, *pb = (const int64_t *)b.buf, *ln = (const int64_t *)length.buf;
        uint8_t *o = (uint8_t *)out.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t k = 0; k < n; k++) {
            if (k + SPAN_AHEAD < n) PREFETCH(u + pa[k + SPAN_AHEAD]);
            o[k] = memcmp(u + pa[k], u + pb[k], (size_t)ln[k]) == 0;
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&blob); PyBuffer_Release(&a); PyBuffer_Release(&b); PyBuffer_Release(&length);
    PyBuffer_Release(&out);
    if (err != NULL) { PyErr_SetString(PyExc_ValueError, err); return NULL; }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"decompress", py_decompress, METH_VARARGS,
     "decompress(data, out_size, out=None) -> bytes: inflate MS-XCA plain LZ77 to exactly out_size bytes "
     "(into out, a writable buffer of that size, when given: then None)"},
    {"extract_records", py_extract_records, METH_VARARGS,
     "extract_records(src, bufs, rec_start, recs, out) -> bytes: copy records of (inflated) buffers into out"},
    {"terminated_lengths", py_terminated_lengths, METH_VARARGS,
     "terminated_lengths(blob, pos, end, out, wide): lengths of NUL-terminated strings (-1: none)"},
    {"span_hashes", py_span_hashes, METH_VARARGS,
     "span_hashes(blob, start, length, out): a 64-bit hash of each byte span (its length mixed in)"},
    {"spans_equal", py_spans_equal, METH_VARARGS,
     "spans_equal(blob, a, b, length, out): whether spans a[k] and b[k] of length[k] hold the same bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_xpress", NULL, -1, methods};

PyMODINIT_FUNC PyInit__xpress(void) { return PyModule_Create(&module); }
