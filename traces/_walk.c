/* The index's layer walk in C for the plain packet shapes.  Optional: without a compiler
 * fastwalk.py walks every row in NumPy (tests/test_scan_native.py holds both to the same rows
 * and values).
 *
 * walk_headers(buf, offs, ends, links, columns, out6, linktypes, embedding4, embedding6, arp) -> None
 *     The index's layer walk (fastwalk.walk_numpy) for the plain shapes: Ethernet (up to three
 *     VLAN tags), raw IP, IPv4/IPv6 link types and Linux SLL/SLL2, then an unfragmented IPv4 or
 *     a fixed IPv6 header, then TCP, UDP, or an ICMP/ICMPv6 message that quotes no packet; or,
 *     with ``arp``, an ARP message for IPv4 over Ethernet.  Per row of the int64 arrays
 *     ``offs``/``ends``/``links`` it fills that row of each of ``columns`` (a tuple of W_COLUMNS
 *     writable int64 arrays, in the order below, zeros where a value is not read) and, for IPv6,
 *     the source and destination of ``out6`` (rows x 32 bytes).  Column 0 is 0 for a row it does
 *     not decide (anything else, or a header a dissector would look closer at: the caller walks
 *     those rows in NumPy) and 1, 2, 3 or 4 for TCP, UDP, ICMP or ARP.  ``linktypes``: the
 *     LINKTYPE numbers of Ethernet, raw IP (three), IPv4, IPv6, SLL and SLL2;
 *     ``embedding4``/``6``: bit t set for the ICMP/ICMPv6 types that quote a packet.  The GIL is
 *     released during the pass.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* rows ahead whose bytes are prefetched where rows lie far apart */
#define WALK_AHEAD 16
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

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
    {"walk_headers", walk_headers, METH_VARARGS, "The index's layer walk over the plain packet shapes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_walk", NULL, -1, methods};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }
