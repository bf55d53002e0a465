/* Byte helpers shared by the index's C loops (_scan.c, _walk.c): included by each, not a module
 * of its own.  Include after <Python.h>. */
#ifndef TRACEMON_BYTES_H
#define TRACEMON_BYTES_H

#include <stdint.h>
#include <string.h>

/* rows ahead whose bytes are prefetched where rows lie far apart in the file */
#define WALK_AHEAD 16
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

/* Whether the lower-case ASCII word w[0:wn] occurs in p[0:n] in any letter case. */
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

/* The length of p[0:n] up to its first blank line ("\n\n" or "\n\r\n"), or n: where the header
 * block of an HTTP-like message ends. */
static Py_ssize_t header_block(const unsigned char *p, Py_ssize_t n) {
    const unsigned char *q = p, *end = p + n;
    while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
        if (q + 1 < end && q[1] == '\n') return q - p;
        if (q + 2 < end && q[1] == '\r' && q[2] == '\n') return q - p;
        q++;
    }
    return n;
}

/* Words searched for in any letter case: a tuple of bytes of lower-case ASCII letters. */
typedef struct {
    PyObject *words; /* (borrowed: the caller holds the tuple) */
    Py_ssize_t n;
    /* with at most 32 non-empty words, one pass a row: at each byte only the words starting with
     * its letter are compared (a bit per word, by lower-case first letter); else word by word */
    int one_pass;
    uint32_t first[256];
} wordset;

/* 0, or -1 with an exception set when ``words`` is not a tuple of such words. */
static int wordset_init(wordset *ws, PyObject *words) {
    if (!PyTuple_Check(words)) {
        PyErr_SetString(PyExc_TypeError, "words must be a tuple");
        return -1;
    }
    ws->words = words;
    ws->n = PyTuple_GET_SIZE(words);
    ws->one_pass = ws->n <= 32;
    memset(ws->first, 0, sizeof ws->first);
    for (Py_ssize_t j = 0; j < ws->n; j++) {
        PyObject *w = PyTuple_GET_ITEM(words, j);
        if (!PyBytes_Check(w)) {
            PyErr_SetString(PyExc_TypeError, "words must be bytes");
            return -1;
        }
        const unsigned char *c = (const unsigned char *)PyBytes_AS_STRING(w);
        for (Py_ssize_t k = 0; k < PyBytes_GET_SIZE(w); k++) {
            if (c[k] < 'a' || c[k] > 'z') {
                PyErr_SetString(PyExc_ValueError, "words must be lower-case ASCII letters");
                return -1;
            }
        }
        if (PyBytes_GET_SIZE(w) == 0) ws->one_pass = 0;
        else if (ws->one_pass) ws->first[c[0]] |= (uint32_t)1 << j;
    }
    return 0;
}

/* Whether any word of ``ws`` occurs in p[0:n].  (Reads only the tuple: safe without the GIL
 * while the caller holds it alive.) */
static int wordset_in(const wordset *ws, const unsigned char *p, Py_ssize_t n) {
    if (!ws->one_pass) {
        for (Py_ssize_t j = 0; j < ws->n; j++) {
            PyObject *w = PyTuple_GET_ITEM(ws->words, j);
            if (has_word(p, n, (const unsigned char *)PyBytes_AS_STRING(w), PyBytes_GET_SIZE(w))) return 1;
        }
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t bits = ws->first[p[i] | 0x20];
        for (Py_ssize_t j = 0; bits; j++, bits >>= 1) {
            if (!(bits & 1)) continue;
            PyObject *w = PyTuple_GET_ITEM(ws->words, j);
            Py_ssize_t wn = PyBytes_GET_SIZE(w);
            const unsigned char *c = (const unsigned char *)PyBytes_AS_STRING(w);
            if (i + wn > n) continue;
            Py_ssize_t k = 1;
            while (k < wn && (p[i + k] | 0x20) == c[k]) k++;
            if (k == wn) return 1;
        }
    }
    return 0;
}

/* Whether p[a : e] (cut to the buffer of ``size`` bytes; with ``headers``, to its header block)
 * holds a word of ``ws``: ``fastapps._has_words`` for one row. */
static int words_in_row(const wordset *ws, const unsigned char *b, int64_t size, int64_t a, int64_t e, int headers) {
    if (a < 0) a = 0;
    if (e > size) e = size;
    if (e <= a) return 0;
    Py_ssize_t n = (Py_ssize_t)(e - a);
    if (headers) n = header_block(b + a, n);
    return wordset_in(ws, b + a, n);
}

#endif
