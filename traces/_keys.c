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

static PyMethodDef methods[] = {
    {"key_lookup", key_lookup, METH_VARARGS, "Ids of u64 keys in an open-addressing table, -1 where absent."},
    {"key_insert", key_insert, METH_VARARGS, "Put u64 keys with their ids into an open-addressing table."},
    {"key_claim", key_claim, METH_VARARGS, "Ids of u64 keys, new keys put in the table numbered from a base."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_keys", NULL, -1, methods};

PyMODINIT_FUNC PyInit__keys(void) { return PyModule_Create(&module); }
