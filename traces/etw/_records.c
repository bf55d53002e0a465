/* Per-record loops of the ETW index in C (records.py and packetrows.py run the same in Python:
 * tests/test_etw_native.py holds both to the same results).  Optional: built at install time
 * when a compiler is there.
 *
 * ndis_vmswitch(buf, starts, lengths, pointers) -> (ok, fields)
 *     packets.locate for the Hyper-V switch's NDIS packet events (1003) without extended items:
 *     per record (``buf[start : start + length]``, int64 arrays; ``pointers`` the pointer size of
 *     its header, 4 or 8) one byte, 1 when ``packets._ndis_1003`` finds its fragment, and ten int64
 *     fields a row (rows x 10): the fragment's start and length in the record, MiniportIfIndex,
 *     LowerIfIndex, the port id, the VLAN id from the OOB data, and where the port name and the
 *     NIC type (UTF-16LE) start and end in the record.  The GIL is released during the pass.
 *
 * etw_records(buf, bases, ends, caps, header, size_at_0, size_at_4) -> (starts, counts, damage)
 *     records.walk for ETW buffers: from ``header`` bytes past each buffer's start (int64 arrays:
 *     ``bases``, ``ends`` where its filled bytes end, ``caps`` the records it may hold, -1 for any
 *     number), the offsets of its records (int64 bytes), how many each buffer holds (int64 bytes),
 *     and the first damage found in each, as (buffer, offset, kind, a, b) tuples: kind 1 more
 *     than ``cap`` records (a = cap), 2 an unknown marker (a = the marker), 3 a size under the
 *     header's (a = size, b = marker >> 16), 4 a record that overruns the buffer (a = size,
 *     b = bytes left).  ``size_at_0``/``size_at_4``: int16[65536], per marker >> 16 the header
 *     size of a type whose size is the marker's low 16 bits / the u16 at +4, -1 for none.  The
 *     GIL is released during the walk.
 *
 * join_spans(buf, starts, lengths, out) -> None
 *     The bytes ``buf[start : start + length]`` of each row (int64 arrays), one after another in
 *     ``out`` (writable, exactly their total length): the packet bytes of a batch side by side,
 *     without an index of every byte.  The GIL is released during the copy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* -- NDIS 1003: the Hyper-V switch's packet events ------------------------------------------ */

enum { V_START, V_LENGTH, V_MINI, V_LOWER, V_PORT, V_VLAN, V_NAME_AT, V_NAME_END, V_TYPE_AT, V_TYPE_END, V_FIELDS };

static inline int64_t le32(const unsigned char *p) {
    return (int64_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

/* packets.utf16_nul: the first NUL character at an even distance from ``pos`` before ``end`` */
static inline int64_t utf16_nul(const unsigned char *r, int64_t pos, int64_t end) {
    for (int64_t i = pos; i + 2 <= end; i += 2)
        if (r[i] == 0 && r[i + 1] == 0) return i;
    return -1;
}

/* packets.utf16z's walk: where the string at ``*pos`` ends; ``*pos`` moves past its NUL */
static inline int64_t utf16_skip(const unsigned char *r, int64_t *pos, int64_t end) {
    int64_t i = utf16_nul(r, *pos, end);
    if (i < 0) {
        *pos = end;
        return end;
    }
    *pos = i + 2;
    return i;
}

/* packets._ndis_1003 (detail=False) over one record ``r`` of ``end`` bytes; 0 when it finds no fragment */
static int vmswitch_row(const unsigned char *r, int64_t end, int64_t ptr, int64_t *f) {
    int64_t p = 0x50; /* no extended items: the payload follows the event header */
    if (p + 12 > end) return 0;
    f[V_MINI] = le32(r + p);
    f[V_LOWER] = le32(r + p + 4);
    f[V_PORT] = le32(r + p + 8);
    int64_t pos = p + 12;
    f[V_NAME_AT] = pos;
    f[V_NAME_END] = utf16_skip(r, &pos, end);
    utf16_skip(r, &pos, end); /* the NIC name */
    f[V_TYPE_AT] = pos;
    f[V_TYPE_END] = utf16_skip(r, &pos, end);
    if (pos + 4 > end) return 0;
    int64_t dcount = le32(r + pos);
    pos += 4;
    /* Destination is declared win:Double[count] (8 bytes each); 4-byte elements are taken when
     * only that layout makes the rest of the event fit exactly */
    int chosen = 0;
    int64_t q_at = 0, fsize = 0;
    for (int64_t elem = 8; elem >= 4; elem -= 4) {
        int64_t q = pos + dcount * elem;
        if (q + 4 > end) continue;
        int64_t fs = le32(r + q), after = q + 4 + fs;
        if (after + 4 <= end && after + 4 + le32(r + after) == end) {
            q_at = q, fsize = fs, chosen = 1;
            break;
        }
        if (!chosen && after <= end) q_at = q, fsize = fs, chosen = 1;
    }
    if (!chosen) return 0;
    int64_t start = q_at + 4;
    f[V_START] = start;
    f[V_LENGTH] = fsize < end - start ? fsize : end - start;
    f[V_VLAN] = 0;
    int64_t oob_at = start + fsize;
    if (oob_at + 4 <= end) {
        int64_t stop = oob_at + 4 + le32(r + oob_at);
        int64_t have = (stop < end ? stop : end) - (oob_at + 4);
        if (have >= 5 * ptr) {
            const unsigned char *v = r + oob_at + 4 + 4 * ptr;
            uint64_t word = (uint64_t)le32(v);
            if (ptr == 8) word |= (uint64_t)le32(v + 4) << 32;
            f[V_VLAN] = (int64_t)((word >> 4) & 0xFFF);
        }
    }
    return 1;
}

static PyObject *ndis_vmswitch(PyObject *self, PyObject *args) {
    Py_buffer in, st, ln, pt;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &in, &st, &ln, &pt)) return NULL;
    PyObject *ok_out = NULL, *f_out = NULL, *res = NULL;
    Py_ssize_t rows = st.len / (Py_ssize_t)sizeof(int64_t);
    if (ln.len != st.len || pt.len != st.len) {
        PyErr_SetString(PyExc_ValueError, "ndis_vmswitch: arrays of different sizes");
        goto done;
    }
    ok_out = PyBytes_FromStringAndSize(NULL, rows);
    f_out = PyBytes_FromStringAndSize(NULL, rows * V_FIELDS * (Py_ssize_t)sizeof(int64_t));
    if (ok_out == NULL || f_out == NULL) goto done;
    unsigned char *ok = (unsigned char *)PyBytes_AS_STRING(ok_out);
    int64_t *f = (int64_t *)PyBytes_AS_STRING(f_out);
    const int64_t *starts = (const int64_t *)st.buf, *lengths = (const int64_t *)ln.buf, *ptrs = (const int64_t *)pt.buf;
    const unsigned char *b = (const unsigned char *)in.buf;
    int64_t size = (int64_t)in.len;
    memset(f, 0, (size_t)rows * V_FIELDS * sizeof(int64_t));
    Py_BEGIN_ALLOW_THREADS /* (the buffers are held) */
    for (Py_ssize_t i = 0; i < rows; i++) {
        int64_t a = starts[i], n = lengths[i];
        int64_t ptr = ptrs[i] == 4 ? 4 : 8;
        ok[i] = a >= 0 && n >= 0 && n <= size - a && vmswitch_row(b + a, n, ptr, f + i * V_FIELDS);
    }
    Py_END_ALLOW_THREADS
    res = Py_BuildValue("(NN)", ok_out, f_out);
    ok_out = f_out = NULL;
done:
    Py_XDECREF(ok_out);
    Py_XDECREF(f_out);
    PyBuffer_Release(&in);
    PyBuffer_Release(&st);
    PyBuffer_Release(&ln);
    PyBuffer_Release(&pt);
    return res;
}

/* -- ETW buffers: the record chain ---------------------------------------------------------- */

typedef struct {
    int64_t at, kind, a, b; /* kind 0: none */
} etw_damage;

static PyObject *etw_records(PyObject *self, PyObject *args) {
    Py_buffer in, bs, es, cs, s0b, s4b;
    Py_ssize_t header;
    if (!PyArg_ParseTuple(args, "y*y*y*y*ny*y*", &in, &bs, &es, &cs, &header, &s0b, &s4b)) return NULL;
    PyObject *starts_out = NULL, *counts_out = NULL, *res = NULL, *damage = NULL;
    etw_damage *bad = NULL;
    Py_ssize_t spans = bs.len / (Py_ssize_t)sizeof(int64_t), room = 0;
    const int64_t *base = (const int64_t *)bs.buf, *ends = (const int64_t *)es.buf, *caps = (const int64_t *)cs.buf;
    int64_t size = (int64_t)in.len;
    if (es.len != bs.len || cs.len != bs.len || header < 0 || s0b.len != 65536 * 2 || s4b.len != 65536 * 2) {
        PyErr_SetString(PyExc_ValueError, "etw_records: arrays of different sizes, or size tables not int16[65536]");
        goto done;
    }
    for (Py_ssize_t k = 0; k < spans; k++) {
        if (base[k] < 0 || ends[k] > size || ends[k] < base[k]) {
            PyErr_SetString(PyExc_ValueError, "etw_records: a buffer outside the data");
            goto done;
        }
        room += (ends[k] - base[k]) / 8 + 1; /* records are 8 bytes at least */
    }
    starts_out = PyBytes_FromStringAndSize(NULL, room * (Py_ssize_t)sizeof(int64_t));
    counts_out = PyBytes_FromStringAndSize(NULL, spans * (Py_ssize_t)sizeof(int64_t));
    bad = PyMem_Calloc(spans ? (size_t)spans : 1, sizeof(etw_damage));
    if (starts_out == NULL || counts_out == NULL || bad == NULL) {
        if (bad == NULL) PyErr_NoMemory();
        goto done;
    }
    int64_t *starts = (int64_t *)PyBytes_AS_STRING(starts_out), *counts = (int64_t *)PyBytes_AS_STRING(counts_out);
    const int16_t *s0 = (const int16_t *)s0b.buf, *s4 = (const int16_t *)s4b.buf;
    const unsigned char *b = (const unsigned char *)in.buf;
    Py_ssize_t total = 0;
    Py_BEGIN_ALLOW_THREADS /* (the buffers are held) */
    for (Py_ssize_t k = 0; k < spans; k++) {
        int64_t off = base[k] + header, end = ends[k], cap = caps[k];
        Py_ssize_t n0 = total;
        /* records are at least 8 bytes: ``cap - count`` more cannot end before ``check_at`` */
        int64_t check_at = cap < 0 ? end : off + cap * 8;
        while (off + 8 <= end) {
            if (off >= check_at) {
                int64_t count = total - n0;
                if (count >= cap) {
                    bad[k] = (etw_damage){off - base[k], 1, cap, 0};
                    break;
                }
                check_at = off + (cap - count) * 8;
            }
            uint32_t m = (uint32_t)le32(b + off);
            if (m == 0xFFFFFFFFu) break; /* padding: the buffer's records end here */
            unsigned hi = m >> 16;
            int64_t mn = s0[hi], len;
            if (mn >= 0) {
                len = m & 0xFFFF;
            } else {
                mn = s4[hi];
                if (mn < 0) {
                    bad[k] = (etw_damage){off - base[k], 2, m, 0};
                    break;
                }
                len = (int64_t)b[off + 4] | (int64_t)b[off + 5] << 8;
            }
            if (len < mn) {
                bad[k] = (etw_damage){off - base[k], 3, len, hi};
                break;
            }
            if (off + len > end) {
                bad[k] = (etw_damage){off - base[k], 4, len, end - off};
                break;
            }
            starts[total++] = off;
            off += (len + 7) & ~(int64_t)7;
        }
        counts[k] = total - n0;
    }
    Py_END_ALLOW_THREADS
    damage = PyList_New(0);
    if (damage == NULL) goto done;
    for (Py_ssize_t k = 0; k < spans; k++) {
        if (!bad[k].kind) continue;
        PyObject *t = Py_BuildValue("(nLLLL)", k, (long long)bad[k].at, (long long)bad[k].kind, (long long)bad[k].a,
                                    (long long)bad[k].b);
        if (t == NULL || PyList_Append(damage, t) < 0) {
            Py_XDECREF(t);
            goto done;
        }
        Py_DECREF(t);
    }
    if (_PyBytes_Resize(&starts_out, total * (Py_ssize_t)sizeof(int64_t)) < 0) goto done;
    res = Py_BuildValue("(NNN)", starts_out, counts_out, damage);
    starts_out = counts_out = damage = NULL;
done:
    Py_XDECREF(starts_out);
    Py_XDECREF(counts_out);
    Py_XDECREF(damage);
    PyMem_Free(bad);
    PyBuffer_Release(&in);
    PyBuffer_Release(&bs);
    PyBuffer_Release(&es);
    PyBuffer_Release(&cs);
    PyBuffer_Release(&s0b);
    PyBuffer_Release(&s4b);
    return res;
}

/* -- packet bytes side by side --------------------------------------------------------------- */

static PyObject *join_spans(PyObject *self, PyObject *args) {
    Py_buffer in, st, ln, out;
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &in, &st, &ln, &out)) return NULL;
    PyObject *res = NULL;
    Py_ssize_t rows = st.len / (Py_ssize_t)sizeof(int64_t), total = 0;
    const int64_t *starts = (const int64_t *)st.buf, *lengths = (const int64_t *)ln.buf;
    if (ln.len != st.len) {
        PyErr_SetString(PyExc_ValueError, "join_spans: starts and lengths differ in size");
        goto done;
    }
    for (Py_ssize_t i = 0; i < rows; i++) {
        if (starts[i] < 0 || lengths[i] < 0 || lengths[i] > in.len - starts[i]) {
            PyErr_SetString(PyExc_ValueError, "join_spans: a span outside the buffer");
            goto done;
        }
        total += (Py_ssize_t)lengths[i];
    }
    if (total != out.len) {
        PyErr_SetString(PyExc_ValueError, "join_spans: the output is not the spans' total length");
        goto done;
    }
    const unsigned char *b = (const unsigned char *)in.buf;
    unsigned char *o = (unsigned char *)out.buf;
    Py_BEGIN_ALLOW_THREADS /* (the buffers are held) */
    for (Py_ssize_t i = 0; i < rows; i++) {
        memcpy(o, b + starts[i], (size_t)lengths[i]);
        o += lengths[i];
    }
    Py_END_ALLOW_THREADS
    res = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&in);
    PyBuffer_Release(&st);
    PyBuffer_Release(&ln);
    PyBuffer_Release(&out);
    return res;
}

static PyMethodDef methods[] = {
    {"etw_records", etw_records, METH_VARARGS, "The record chain of many ETW buffers."},
    {"join_spans", join_spans, METH_VARARGS, "The bytes of many spans, one after another."},
    {"ndis_vmswitch", ndis_vmswitch, METH_VARARGS, "Where the fragment of many Hyper-V switch packet events is."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_records", NULL, -1, methods};

PyMODINIT_FUNC PyInit__records(void) { return PyModule_Create(&module); }
