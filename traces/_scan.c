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
 * http_host(buf, starts, lengths, window, max_lines, methods) -> (state, value_start, value_length)
 *     The Host header of HTTP messages (payloads ``buf[start : start + length]`` that start one:
 *     a method of ``methods``, each with its space, or a status line), each read as far as
 *     ``window`` bytes, as ``httpcols._Messages.host`` finds it (the NumPy reference; its
 *     docstring says what is left to decoding): one byte a message, 0 no Host header, 1 one,
 *     whose value (the text after the colon, white space and all) is at ``value_start`` for
 *     ``value_length`` bytes (int64), 2 decode the message.
 *
 * dns_questions(buf, bases, caps, ok, window, max_labels) -> (state, name_at, name_length)
 *     The question name of DNS frames (at ``bases``, ``caps`` bytes captured; a zero byte of
 *     ``ok`` rules a frame out), as ``dnscols._pass`` (the NumPy reference; its module docstring
 *     says which frames are left to decoding) finds it in each frame's first ``window`` bytes: a
 *     byte a frame, 1 the name is at ``name_at`` in the frame for ``name_length`` bytes (int64;
 *     its wire form, the closing zero included), 2 decode the frame, 3 the name goes on past the
 *     window.  The GIL is released during the pass.
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

#include "_bytes.h"

/* how far ahead of the record walk the file's lines are prefetched */
#define PREFETCH_BYTES 4096

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
    Py_BEGIN_ALLOW_THREADS /* (the buffer is held: the map cannot close under the walk) */
    while (n < want && (len = step(b, size, pos, little, limit)) > 0) {
        starts[n++] = pos;
        pos += len;
        Py_ssize_t goal = pos + PREFETCH_BYTES < size ? pos + PREFETCH_BYTES : size;
        for (; ahead < goal; ahead += 64) PREFETCH(b + ahead);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    if (_PyBytes_Resize(&out, n * (Py_ssize_t)sizeof(int64_t)) < 0) return NULL;
    return Py_BuildValue("(Nn)", out, pos);
}

static PyObject *pcap_records(PyObject *self, PyObject *args) { return chain(args, pcap_record); }

static PyObject *pcapng_epbs(PyObject *self, PyObject *args) { return chain(args, pcapng_epb); }

static PyObject *find_words(PyObject *self, PyObject *args) {
    Py_buffer in, st, ln;
    PyObject *words;
    int headers = 0;
    if (!PyArg_ParseTuple(args, "y*y*y*O!|p", &in, &st, &ln, &PyTuple_Type, &words, &headers)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t rows = st.len / (Py_ssize_t)sizeof(int64_t);
    wordset ws;
    if (ln.len / (Py_ssize_t)sizeof(int64_t) != rows) {
        PyErr_SetString(PyExc_ValueError, "starts and lengths differ in size");
        goto done;
    }
    if (wordset_init(&ws, words) < 0) goto done;
    out = PyBytes_FromStringAndSize(NULL, rows);
    if (out == NULL) goto done;
    unsigned char *mask = (unsigned char *)PyBytes_AS_STRING(out);
    const int64_t *starts = (const int64_t *)st.buf, *lengths = (const int64_t *)ln.buf;
    const unsigned char *b = (const unsigned char *)in.buf;
    Py_BEGIN_ALLOW_THREADS /* (the words tuple and the buffers are held) */
    for (Py_ssize_t r = 0; r < rows; r++)
        mask[r] = (unsigned char)words_in_row(&ws, b, (int64_t)in.len, starts[r], starts[r] + lengths[r], headers);
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&in);
    PyBuffer_Release(&st);
    PyBuffer_Release(&ln);
    return out;
}

/* bytes ``str.strip`` removes from latin-1 text (httpcols._SPACE) */
static int is_space(unsigned char c) {
    return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0;
}

/* a status line's 3-character code that ``str.isdigit`` takes but ``int`` refuses (superscript
 * digits): the dissector fails on such a message (``httpcols._Messages._code``) */
static int broken_status(const unsigned char *p, Py_ssize_t line_end) {
    Py_ssize_t end = line_end;
    if (end > 0 && p[end - 1] == '\r') end--;
    Py_ssize_t s1 = end, s2 = end;
    for (Py_ssize_t i = 0; i < end; i++) {
        if (p[i] != ' ') continue;
        if (s1 == end) s1 = i;
        else { s2 = i; break; }
    }
    if (s1 >= end || s2 - s1 - 1 != 3) return 0;
    int ascii = 1, other = 1;
    for (int j = 1; j <= 3; j++) {
        unsigned char c = p[s1 + j];
        int digit = c >= '0' && c <= '9';
        ascii &= digit;
        other &= digit || c == 0xB2 || c == 0xB3 || c == 0xB9;
    }
    return other && !ascii;
}

/* The outputs of http_host and dns_questions: a state byte and two int64 values a row (-1 with
 * an exception set; the caller releases what was made). */
static int row_outputs(Py_ssize_t rows, PyObject **state, PyObject **first, PyObject **second) {
    *state = PyBytes_FromStringAndSize(NULL, rows);
    *first = PyBytes_FromStringAndSize(NULL, rows * (Py_ssize_t)sizeof(int64_t));
    *second = PyBytes_FromStringAndSize(NULL, rows * (Py_ssize_t)sizeof(int64_t));
    return *state != NULL && *first != NULL && *second != NULL ? 0 : -1;
}

static PyObject *http_host(PyObject *self, PyObject *args) {
    Py_buffer in, st, ln;
    Py_ssize_t window, max_lines;
    PyObject *methods;
    if (!PyArg_ParseTuple(args, "y*y*y*nnO!", &in, &st, &ln, &window, &max_lines, &PyTuple_Type, &methods)) return NULL;
    PyObject *state_out = NULL, *vs_out = NULL, *vl_out = NULL, *res = NULL;
    Py_ssize_t rows = st.len / (Py_ssize_t)sizeof(int64_t), nm = PyTuple_GET_SIZE(methods);
    if (ln.len != st.len || window < 1) {
        PyErr_SetString(PyExc_ValueError, "starts and lengths differ in size, or the window is empty");
        goto done;
    }
    for (Py_ssize_t j = 0; j < nm; j++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(methods, j))) {
            PyErr_SetString(PyExc_TypeError, "methods must be bytes");
            goto done;
        }
    }
    if (row_outputs(rows, &state_out, &vs_out, &vl_out) < 0) goto done;
    unsigned char *state = (unsigned char *)PyBytes_AS_STRING(state_out);
    int64_t *vstart = (int64_t *)PyBytes_AS_STRING(vs_out), *vlen = (int64_t *)PyBytes_AS_STRING(vl_out);
    const int64_t *starts = (const int64_t *)st.buf, *lengths = (const int64_t *)ln.buf;
    const unsigned char *b = (const unsigned char *)in.buf;
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (r + WALK_AHEAD < rows) { /* messages lie far apart: their first lines are fetched ahead */
            int64_t q = starts[r + WALK_AHEAD];
            if (q >= 0 && q + 128 <= in.len) {
                PREFETCH(b + q);
                PREFETCH(b + q + 64);
            }
        }
        vstart[r] = vlen[r] = 0;
        int64_t a = starts[r], n = lengths[r];
        if (a < 0 || n < 0 || a > in.len || n > in.len - a) {
            state[r] = 2; /* outside the buffer: the dissector decides */
            continue;
        }
        int cut = n > window;
        Py_ssize_t w = cut ? window : (Py_ssize_t)n;
        const unsigned char *p = b + a;
        const unsigned char *nl = memchr(p, '\n', (size_t)w);
        int request = 0;
        for (Py_ssize_t j = 0; j < nm && !request; j++) {
            PyObject *m = PyTuple_GET_ITEM(methods, j);
            Py_ssize_t k = PyBytes_GET_SIZE(m);
            request = k <= w && memcmp(p, PyBytes_AS_STRING(m), (size_t)k) == 0;
        }
        Py_ssize_t line_end = nl ? nl - p : w;
        int unsure = !nl && cut;
        if (!request && broken_status(p, line_end)) unsure = 1;
        Py_ssize_t count = 0, hosts = 0, host_at = 0, host_end = 0;
        int ended = 0, spaced = 0;
        Py_ssize_t pos = nl ? line_end + 1 : w;
        while (pos < w) {
            const unsigned char *e = memchr(p + pos, '\n', (size_t)(w - pos));
            if (e == NULL) break; /* a last line the window does not end: not a line */
            Py_ssize_t le = e - p, size = le - pos, k = 0;
            while (k < size && p[pos + k] == '\r') k++;
            if (k == size) {  /* nothing but '\r': the headers end here */
                ended = 1;
                break;
            }
            count++;
            unsigned char b0 = p[pos];
            if (is_space(b0)) spaced = 1;
            if ((b0 | 0x20) == 'h' && size >= 5 && (p[pos + 1] | 0x20) == 'o' && (p[pos + 2] | 0x20) == 's' &&
                (p[pos + 3] | 0x20) == 't') {
                unsigned char c = p[pos + 4];
                if (c == ':') {
                    hosts++;
                    host_at = pos + 5;
                    host_end = le;
                } else if (is_space(c)) {
                    spaced = 1; /* "host" and white space: its name may strip to "host" */
                }
            }
            pos = le + 1;
        }
        if (!ended && cut) unsure = 1;
        if (count > max_lines) unsure = 1;
        if (hosts > 1 || unsure || spaced) state[r] = 2;
        else if (hosts == 1) {
            state[r] = 1;
            vstart[r] = a + host_at;
            vlen[r] = host_end - host_at;
        } else state[r] = 0;
    }
    res = Py_BuildValue("(OOO)", state_out, vs_out, vl_out);
done:
    Py_XDECREF(state_out);
    Py_XDECREF(vs_out);
    Py_XDECREF(vl_out);
    PyBuffer_Release(&in);
    PyBuffer_Release(&st);
    PyBuffer_Release(&ln);
    return res;
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
    Py_BEGIN_ALLOW_THREADS
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
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&in);
    PyBuffer_Release(&ps);
    return out;
}

/* --- dns_questions ------------------------------------------------------------------------ */

enum { DNS_NAME = 1, DNS_DECODE = 2, DNS_RETRY = 3 };

/* a byte of the frame at ``base`` as dnscols._pass reads it: from its first ``window`` bytes (a
 * position past them reads the last), zeros past the end of the buffer */
static inline int64_t dns_byte(const unsigned char *b, int64_t size, int64_t base, int64_t window, int64_t at) {
    int64_t q = base + (at < window - 1 ? at : window - 1);
    return q >= 0 && q < size ? b[q] : 0;
}

static inline int64_t dns_be16(const unsigned char *b, int64_t size, int64_t base, int64_t window, int64_t at) {
    return dns_byte(b, size, base, window, at) << 8 | dns_byte(b, size, base, window, at + 1);
}

/* One frame: its state, with the question name's offset in the frame and length when DNS_NAME. */
static int dns_question(const unsigned char *b, int64_t size, int64_t base, int64_t cap, int ok, int64_t window,
                        Py_ssize_t max_labels, int64_t *name_at, int64_t *name_len) {
#define RD(at) dns_byte(b, size, base, window, (at))
#define BE16(at) dns_be16(b, size, base, window, (at))
    if (base < 0) base = 0; /* (as rows_at reads it) */
    int64_t etype = BE16(12), l3 = 14;
    if (etype == 0x8100) {
        etype = BE16(16);
        l3 = 18;
    }
    int v4 = etype == 0x0800, v6 = etype == 0x86DD;
    int64_t ihl = (RD(l3) & 15) * 4, frag = BE16(l3 + 6) & 0x3FFF;
    ok = ok && ((v4 && RD(l3) >> 4 == 4 && ihl >= 20 && RD(l3 + 9) == 17 && frag == 0) ||
                (v6 && RD(l3) >> 4 == 6 && RD(l3 + 6) == 17));
    if (!ok) return DNS_DECODE;
    int64_t l4 = v4 ? l3 + ihl : l3 + 40;
    int64_t ip_end = v4 ? l3 + BE16(l3 + 2) : l3 + 40 + BE16(l3 + 4);
    int64_t end = cap < ip_end ? cap : ip_end;
    int64_t udp_len = BE16(l4 + 4);
    if (udp_len >= 8 && l4 + udp_len < end) end = l4 + udp_len;
    int64_t dns = l4 + 8;
    if (dns + 12 > end || BE16(dns + 4) != 1) return DNS_DECODE; /* no question, or several: decoded */
    int64_t start = dns + 12, pos = start;
    int done = 0;
    for (Py_ssize_t k = 0; k < max_labels && !done; k++) {
        if (pos >= end) return DNS_DECODE;
        if (pos >= window) return DNS_RETRY; /* the name goes on past the window */
        int64_t lab = RD(pos);
        if (lab == 0) done = 1;
        else if (lab & 0xC0) return DNS_DECODE; /* a pointer or a reserved label type */
        else pos += 1 + lab;
    }
    if (!done) return DNS_DECODE;
    int64_t after = pos + 1;
    if (after + 4 > end || after - start > 255) return DNS_DECODE; /* QTYPE and QCLASS must follow */
    if (after > window) return DNS_RETRY;
    *name_at = start;
    *name_len = after - start;
    return DNS_NAME;
#undef RD
#undef BE16
}

static PyObject *dns_questions(PyObject *self, PyObject *args) {
    Py_buffer in, bs, cs, oks;
    Py_ssize_t window, max_labels;
    if (!PyArg_ParseTuple(args, "y*y*y*y*nn", &in, &bs, &cs, &oks, &window, &max_labels)) return NULL;
    PyObject *state_out = NULL, *at_out = NULL, *len_out = NULL, *res = NULL;
    Py_ssize_t rows = bs.len / (Py_ssize_t)sizeof(int64_t);
    if (cs.len != bs.len || oks.len != rows || window < 2) {
        PyErr_SetString(PyExc_ValueError, "dns_questions: arrays of different sizes, or a window under 2 bytes");
        goto done;
    }
    if (row_outputs(rows, &state_out, &at_out, &len_out) < 0) goto done;
    unsigned char *state = (unsigned char *)PyBytes_AS_STRING(state_out);
    int64_t *at = (int64_t *)PyBytes_AS_STRING(at_out), *len = (int64_t *)PyBytes_AS_STRING(len_out);
    const int64_t *base = (const int64_t *)bs.buf, *cap = (const int64_t *)cs.buf;
    const unsigned char *ok = (const unsigned char *)oks.buf, *b = (const unsigned char *)in.buf;
    int64_t size = (int64_t)in.len;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (r + WALK_AHEAD < rows && base[r + WALK_AHEAD] >= 0 && base[r + WALK_AHEAD] + 128 <= size) {
            PREFETCH(b + base[r + WALK_AHEAD]); /* frames lie far apart: their headers are fetched ahead */
            PREFETCH(b + base[r + WALK_AHEAD] + 64);
        }
        at[r] = len[r] = 0;
        state[r] = (unsigned char)dns_question(b, size, base[r], cap[r], ok[r] != 0, window, max_labels, &at[r],
                                               &len[r]);
    }
    Py_END_ALLOW_THREADS
    res = Py_BuildValue("(NNN)", state_out, at_out, len_out);
    state_out = at_out = len_out = NULL;
done:
    Py_XDECREF(state_out);
    Py_XDECREF(at_out);
    Py_XDECREF(len_out);
    PyBuffer_Release(&in);
    PyBuffer_Release(&bs);
    PyBuffer_Release(&cs);
    PyBuffer_Release(&oks);
    return res;
}

static PyMethodDef methods[] = {
    {"gather_rows", gather_rows, METH_VARARGS, "The width bytes at each position, row after row."},
    {"pcap_records", pcap_records, METH_VARARGS, "Offsets of a run of sane pcap records."},
    {"pcapng_epbs", pcapng_epbs, METH_VARARGS, "Offsets of a run of well-formed pcapng Enhanced Packet Blocks."},
    {"find_words", find_words, METH_VARARGS, "Rows whose bytes contain any of the words, in any letter case."},
    {"http_host", http_host, METH_VARARGS, "The Host header of many HTTP messages."},
    {"dns_questions", dns_questions, METH_VARARGS, "The question name of many DNS frames."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
