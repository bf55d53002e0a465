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
 *
 * walk_apps(buf, columns, (protos, top, ok, fallback), tables, heuristics, prefixes, words) -> None
 *     For the rows walk_headers decided (its ``columns``; rows of state 0 are left alone): their
 *     presence bits (u64) and Protocol Name (int64), and whether they are decided (``ok``) or go to
 *     the scalar path (``fallback``, bool) -- with what TCP and UDP carry classified by the rules of
 *     fastapps.tcp and fastapps.udp (fastwalk._carries runs those in NumPy: the reference).
 *     ``tables`` = (TCP port rules and UDP port rules, u8[65536]; per rule its presence bits, u64,
 *     and Protocol Name, int64; the constants, u64, in the order of fastapps.NATIVE_CONSTANTS; a
 *     flag per byte value, u8[256]; the NbtSS session payloads, u64 triples of magic, presence
 *     bits and Protocol Name, all ones for one another dissector decides).  ``heuristics``: which
 *     payload tests TCP payload no port claims gets (HEUR_*); ``prefixes``: HTTP's; ``words``: the
 *     authentication schemes that send an HTTP message to the dissectors.  The GIL is released
 *     during the pass.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_bytes.h"

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

/* --- what the rows carry (walk_apps) ------------------------------------------------------- */

/* walk_apps' constants, in this order (fastapps.NATIVE_CONSTANTS names them) */
enum { K_FALLBACK, K_NBTSS, K_NATT, K_RDP, K_IKE, K_ESP, K_DNS_END,
       K_ETH, K_VLAN, K_SLL, K_IPV4, K_IPV6, K_ARP, K_ICMP, K_ICMPV6, K_TCP, K_UDP, K_NBTSS_BIT, K_MSRPC_BIT, K_HTTP_BIT,
       K_C_IPV4, K_C_IPV6, K_C_ARP, K_C_ICMP, K_C_ICMPV6, K_C_TCP, K_C_UDP, K_C_NBTSS, K_C_MSRPC, K_C_HTTP,
       K_SMB2_MAGIC, K_FSCTL_PIPE, K_RPC_HEADER, K_DNS_HEADER, K_HTTP_AUTH_MIN, K_CONSTANTS };
/* walk_apps' byte sets: a flag per byte value */
enum { SET_NBSS_TYPE = 1, SET_CO_PTYPE = 2, SET_HTTP_FIRST = 4 };
/* walk_apps' payload tests for TCP payload no port claims (TCP_HEURISTICS) */
enum { HEUR_PDU = 1, HEUR_HTTP = 2, HEUR_OTHER = 4 };
#define MAX_PREFIXES 32

typedef struct {
    const unsigned char *b;
    int64_t size;
    const uint8_t *tcp_rules, *udp_rules, *sets;
    const uint64_t *rule_bits, *k, *sessions;
    const int64_t *rule_top;
    Py_ssize_t n_rules, n_sessions, n_prefixes;
    int heuristics;
    const unsigned char *prefix[MAX_PREFIXES];
    Py_ssize_t prefix_len[MAX_PREFIXES];
    wordset auth;
} apps_ctx;

/* Gather.read: a position is moved into the buffer (the callers' bounds checks reject such rows) */
static inline int64_t rd8(const apps_ctx *c, int64_t pos) {
    if (pos > c->size - 1) pos = c->size - 1;
    return pos < 0 ? c->b[0] : c->b[pos];
}
static inline int64_t rd16(const apps_ctx *c, int64_t pos, int little) {
    if (c->size < 2) return 0;
    if (pos > c->size - 2) pos = c->size - 2;
    if (pos < 0) pos = 0;
    const unsigned char *p = c->b + pos;
    return little ? (int64_t)p[0] | (int64_t)p[1] << 8 : (int64_t)p[0] << 8 | p[1];
}
static inline int64_t rd32(const apps_ctx *c, int64_t pos, int little) {
    if (c->size < 4) return 0;
    if (pos > c->size - 4) pos = c->size - 4;
    if (pos < 0) pos = 0;
    const unsigned char *p = c->b + pos;
    return little ? (int64_t)p[0] | (int64_t)p[1] << 8 | (int64_t)p[2] << 16 | (int64_t)p[3] << 24 : be32(p);
}

/* fastapps._app_rule: the rule of the port whose dissector ``by_port`` runs (the lower first) */
static inline int port_rule(const uint8_t *rules, int64_t sport, int64_t dport) {
    int64_t lo = sport < dport ? sport : dport, hi = sport < dport ? dport : sport;
    int r = rules[lo & 0xFFFF];
    return r ? r : rules[hi & 0xFFFF];
}

/* fastapps._starts_pdu for one payload, with the PDU's fragment and auth lengths */
static int starts_pdu(const apps_ctx *c, int64_t p, int64_t n, int64_t *frag, int64_t *auth) {
    int little = (rd8(c, p + 4) & 0x10) != 0;
    *frag = rd16(c, p + 8, little);
    *auth = rd16(c, p + 10, little);
    if (n < (int64_t)c->k[K_RPC_HEADER] || rd8(c, p) != 5) return 0;
    return rd8(c, p + 1) <= 1 && (c->sets[rd8(c, p + 2)] & SET_CO_PTYPE) && (rd8(c, p + 4) & 0xEE) == 0 &&
           rd8(c, p + 5) <= 3 && rd8(c, p + 6) == 0 && rd8(c, p + 7) == 0 &&
           *frag >= (int64_t)c->k[K_RPC_HEADER] + (*auth > 0 ? *auth + 8 : 0);
}

/* fastapps._smb2_pipes for the SMB2 message after the NbtSS header at ``p`` */
static int smb2_pipe_like(const apps_ctx *c, int64_t p) {
    int64_t h = p + 4, body = h + 64;
    int64_t cmd = rd16(c, h + 12, 1);
    int response = (rd8(c, h + 16) & 1) == 1;
    int write = cmd == 9 && !response, read = cmd == 8 && response;
    int64_t at = h + (write ? rd16(c, body + 2, 1) : rd8(c, body + 2));
    int rpc_like = (write || read) && rd8(c, at) == 5 && rd8(c, at + 1) <= 1;
    int pipe = cmd == 11 && (uint64_t)rd32(c, body + 4, 1) == c->k[K_FSCTL_PIPE];
    return rpc_like || pipe || rd32(c, h + 20, 1) != 0;
}

/* fastapps._nbtss for one payload */
static void nbtss(const apps_ctx *c, int64_t p, int64_t n, uint64_t *bits, int64_t *top, int *claimed) {
    *bits |= c->k[K_NBTSS_BIT];
    *top = (int64_t)c->k[K_C_NBTSS];
    int64_t kind = rd8(c, p), flags = rd8(c, p + 1);
    int valid = n >= 4 && (c->sets[kind] & SET_NBSS_TYPE) && (flags & 0xFE) == 0;
    int64_t length = (flags & 1) << 16 | rd16(c, p + 2, 0);
    if (valid && length > 0 && 4 + length < n) *claimed = 1; /* a second message: the scalar path reads the chain */
    int64_t body = length < n - 4 ? length : n - 4;
    if (!(valid && kind == 0 && body >= 4)) return;
    uint64_t magic = (uint64_t)rd32(c, p + 4, 0);
    if (magic == c->k[K_SMB2_MAGIC] && body >= 16 && rd16(c, p + 16, 1) == 1) *claimed = 1; /* SESSION SETUP */
    if (magic == c->k[K_SMB2_MAGIC] && body >= 64 && smb2_pipe_like(c, p)) *claimed = 1;
    for (Py_ssize_t s = 0; s < c->n_sessions; s++) {
        const uint64_t *e = c->sessions + 3 * s; /* magic, presence bits, Protocol Name (all ones: not ours) */
        if (magic != e[0]) continue;
        if (e[2] == UINT64_MAX) {
            *claimed = 1;
        } else {
            *bits |= e[1];
            *top = (int64_t)e[2];
        }
    }
}

/* fastapps._heuristics for one payload that no port claims */
static void heuristics(const apps_ctx *c, int64_t p, int64_t n, uint64_t *bits, int64_t *top, int *claimed) {
    if (c->heuristics & HEUR_OTHER) {
        *claimed = 1; /* a test not made here: the dissectors decide */
        return;
    }
    int64_t frag, auth;
    if ((c->heuristics & HEUR_PDU) && starts_pdu(c, p, n, &frag, &auth)) {
        *bits |= c->k[K_MSRPC_BIT];
        *top = (int64_t)c->k[K_C_MSRPC];
        return;
    }
    if (!(c->heuristics & HEUR_HTTP) || !(c->sets[rd8(c, p)] & SET_HTTP_FIRST)) return;
    for (Py_ssize_t i = 0; i < c->n_prefixes; i++) {
        Py_ssize_t k = 0, len = c->prefix_len[i];
        if (n < len) continue;
        while (k < len && rd8(c, p + k) == c->prefix[i][k]) k++;
        if (k == len) {
            *bits |= c->k[K_HTTP_BIT];
            *top = (int64_t)c->k[K_C_HTTP];
            return;
        }
    }
}

/* fastapps.tcp for one row's payload p[0:n]: its presence bits, its Protocol Name (-1: TCP's),
 * whether the scalar path decides it */
static void tcp_app(const apps_ctx *c, int64_t sport, int64_t dport, int64_t p, int64_t n, uint64_t *bits, int64_t *top,
                    int *claimed) {
    int rule = n > 0 ? port_rule(c->tcp_rules, sport, dport) : 0;
    *claimed = rule == (int)c->k[K_FALLBACK] || rule >= c->n_rules;
    if (rule >= c->n_rules) rule = 0;
    *bits = c->rule_bits[rule];
    *top = c->rule_top[rule];
    if (rule == (int)c->k[K_NBTSS]) nbtss(c, p, n, bits, top, claimed);
    else if (rule == 0 && n > 0) heuristics(c, p, n, bits, top, claimed);
    if (rule == (int)c->k[K_RDP] && n >= 4 && rd8(c, p) == 3 && rd8(c, p + 1) == 0) *claimed = 1; /* TPKT */
    int64_t frag, auth;
    if (*top == (int64_t)c->k[K_C_MSRPC] && starts_pdu(c, p, n, &frag, &auth) && (auth > 0 || frag < n))
        *claimed = 1; /* an auth verifier (NTLMSSP may be there), or more than one PDU */
    if (*top == (int64_t)c->k[K_C_HTTP] && n >= (int64_t)c->k[K_HTTP_AUTH_MIN] && (c->sets[rd8(c, p)] & SET_HTTP_FIRST) &&
        words_in_row(&c->auth, c->b, c->size, p, p + n, 1))
        *claimed = 1; /* NTLMSSP or a GSS-API token may be in the headers */
}

/* fastapps.udp for one row's payload p[0:n] */
static void udp_app(const apps_ctx *c, int64_t sport, int64_t dport, int64_t p, int64_t n, uint64_t *bits, int64_t *top,
                    int *claimed) {
    int rule = n > 0 ? port_rule(c->udp_rules, sport, dport) : 0;
    if (rule == (int)c->k[K_NATT]) { /* IKE after a non-ESP marker, nothing for a NAT keepalive, else ESP */
        int keepalive = n == 1 && rd8(c, p) == 0xFF, marker = n >= 4 && rd32(c, p, 0) == 0;
        rule = keepalive ? 0 : marker ? (int)c->k[K_IKE] : (int)c->k[K_ESP];
    }
    int dns_format = rule >= 3 && rule < (int)c->k[K_DNS_END];
    *claimed = rule == (int)c->k[K_FALLBACK] || rule >= c->n_rules ||
               (dns_format && n < (int64_t)c->k[K_DNS_HEADER]);
    if (*claimed) rule = 0;
    *bits = c->rule_bits[rule];
    *top = c->rule_top[rule];
}

/* One row of walk_apps (``state`` from walk_headers; 0 is left alone). */
static void apps_row(const apps_ctx *c, int64_t **col, Py_ssize_t r, uint64_t *protos, int64_t *top, uint8_t *ok,
                     uint8_t *fallback) {
    int64_t state = col[W_STATE][r], family = col[W_FAMILY][r], lb = col[W_LINKBITS][r];
    if (state == 0) return;
    const uint64_t *k = c->k;
    uint64_t pr = (lb & LB_ETH ? k[K_ETH] : 0) | (lb & LB_VLAN ? k[K_VLAN] : 0) | (lb & LB_SLL ? k[K_SLL] : 0) |
                  (family == 4 ? k[K_IPV4] : family == 6 ? k[K_IPV6] : 0);
    int64_t t = (int64_t)(family == 4 ? k[K_C_IPV4] : k[K_C_IPV6]);
    if (state == S_ARP) {
        pr |= k[K_ARP];
        t = (int64_t)k[K_C_ARP];
        ok[r] = 1;
    } else if (state == S_ICMP) {
        pr |= family == 4 ? k[K_ICMP] : k[K_ICMPV6];
        t = (int64_t)(family == 4 ? k[K_C_ICMP] : k[K_C_ICMPV6]);
        ok[r] = 1;
    } else if (state == S_TCP || state == S_UDP) {
        uint64_t bits;
        int64_t app;
        int claimed, tcp = state == S_TCP;
        int64_t p = tcp ? col[W_PAY][r] : col[W_L4][r] + 8, end = col[W_L4END][r];
        if (tcp) tcp_app(c, col[W_SPORT][r], col[W_DPORT][r], p, end - p, &bits, &app, &claimed);
        else udp_app(c, col[W_SPORT][r], col[W_DPORT][r], p, end - p, &bits, &app, &claimed);
        if (claimed) {
            fallback[r] = 1;
        } else {
            pr |= (tcp ? k[K_TCP] : k[K_UDP]) | bits;
            t = app >= 0 ? app : (int64_t)(tcp ? k[K_C_TCP] : k[K_C_UDP]);
            ok[r] = 1;
        }
    }
    protos[r] = pr;
    top[r] = t;
}

static int view_of(PyObject *o, Py_buffer *v, Py_ssize_t len, int writable) {
    if (PyObject_GetBuffer(o, v, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) return -1;
    if (len >= 0 && v->len != len) {
        PyBuffer_Release(v);
        PyErr_SetString(PyExc_ValueError, "walk_apps: arrays of different sizes");
        return -1;
    }
    return 0;
}

static PyObject *walk_apps(PyObject *self, PyObject *args) {
    Py_buffer in;
    PyObject *cols, *outs, *tables, *prefixes, *words;
    int heur;
    if (!PyArg_ParseTuple(args, "y*O!O!O!iO!O!", &in, &PyTuple_Type, &cols, &PyTuple_Type, &outs, &PyTuple_Type,
                          &tables, &heur, &PyTuple_Type, &prefixes, &PyTuple_Type, &words))
        return NULL;
    PyObject *res = NULL;
    enum { T_TCP, T_UDP, T_BITS, T_TOP, T_K, T_SETS, T_SESSIONS, N_TABLES };
    Py_buffer views[W_COLUMNS], outv[4], tabv[N_TABLES];
    int64_t *col[W_COLUMNS];
    int held = 0, held_out = 0, held_tab = 0;
    apps_ctx c;
    if (PyTuple_GET_SIZE(cols) != W_COLUMNS || PyTuple_GET_SIZE(outs) != 4 || PyTuple_GET_SIZE(tables) != N_TABLES ||
        PyTuple_GET_SIZE(prefixes) > MAX_PREFIXES) {
        PyErr_SetString(PyExc_ValueError, "walk_apps: wrong number of columns, outputs, tables or prefixes");
        goto done;
    }
    Py_ssize_t rows = -1;
    for (; held < W_COLUMNS; held++) {
        if (view_of(PyTuple_GET_ITEM(cols, held), &views[held], rows < 0 ? -1 : rows * 8, 0) < 0) goto done;
        rows = views[held].len / 8;
        col[held] = (int64_t *)views[held].buf;
    }
    static const Py_ssize_t out_width[4] = {8, 8, 1, 1}; /* protos (u64), top (i64), ok, fallback (bool) */
    for (; held_out < 4; held_out++)
        if (view_of(PyTuple_GET_ITEM(outs, held_out), &outv[held_out], rows * out_width[held_out], 1) < 0) goto done;
    for (; held_tab < N_TABLES; held_tab++)
        if (view_of(PyTuple_GET_ITEM(tables, held_tab), &tabv[held_tab], -1, 0) < 0) goto done;
    c.n_rules = tabv[T_BITS].len / 8;
    if (tabv[T_TCP].len != 65536 || tabv[T_UDP].len != 65536 || tabv[T_SETS].len != 256 || c.n_rules < 3 ||
        tabv[T_TOP].len != c.n_rules * 8 || tabv[T_K].len != K_CONSTANTS * 8 || tabv[T_SESSIONS].len % 24) {
        PyErr_SetString(PyExc_ValueError, "walk_apps: a table of the wrong size");
        goto done;
    }
    c.b = (const unsigned char *)in.buf;
    c.size = (int64_t)in.len;
    c.tcp_rules = (const uint8_t *)tabv[T_TCP].buf;
    c.udp_rules = (const uint8_t *)tabv[T_UDP].buf;
    c.rule_bits = (const uint64_t *)tabv[T_BITS].buf;
    c.rule_top = (const int64_t *)tabv[T_TOP].buf;
    c.k = (const uint64_t *)tabv[T_K].buf;
    c.sets = (const uint8_t *)tabv[T_SETS].buf;
    c.sessions = (const uint64_t *)tabv[T_SESSIONS].buf;
    c.n_sessions = tabv[T_SESSIONS].len / 24;
    c.heuristics = heur;
    c.n_prefixes = PyTuple_GET_SIZE(prefixes);
    for (Py_ssize_t i = 0; i < c.n_prefixes; i++) {
        PyObject *p = PyTuple_GET_ITEM(prefixes, i);
        if (!PyBytes_Check(p)) {
            PyErr_SetString(PyExc_TypeError, "walk_apps: prefixes must be bytes");
            goto done;
        }
        c.prefix[i] = (const unsigned char *)PyBytes_AS_STRING(p);
        c.prefix_len[i] = PyBytes_GET_SIZE(p);
    }
    if (wordset_init(&c.auth, words) < 0) goto done;
    if (c.size < 1) {
        PyErr_SetString(PyExc_ValueError, "walk_apps: an empty buffer");
        goto done;
    }
    uint64_t *protos = (uint64_t *)outv[0].buf;
    int64_t *top = (int64_t *)outv[1].buf;
    uint8_t *ok = (uint8_t *)outv[2].buf, *fallback = (uint8_t *)outv[3].buf;
    const int64_t *pay = col[W_PAY];
    Py_BEGIN_ALLOW_THREADS /* (every buffer and tuple is held) */
    for (Py_ssize_t r = 0; r < rows; r++) {
        /* walk_headers read these frames a whole batch ago: their lines have left the cache since.
         * Ask for the payload's first line a few rows ahead (the rules read from there) */
        if (r + WALK_AHEAD < rows && pay[r + WALK_AHEAD] >= 0 && pay[r + WALK_AHEAD] + 128 <= c.size)
            PREFETCH(c.b + pay[r + WALK_AHEAD]), PREFETCH(c.b + pay[r + WALK_AHEAD] + 64);
        apps_row(&c, col, r, protos, top, ok, fallback);
    }
    Py_END_ALLOW_THREADS
    res = Py_NewRef(Py_None);
done:
    for (int i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    for (int i = 0; i < held_out; i++) PyBuffer_Release(&outv[i]);
    for (int i = 0; i < held_tab; i++) PyBuffer_Release(&tabv[i]);
    PyBuffer_Release(&in);
    return res;
}

static PyMethodDef methods[] = {
    {"walk_headers", walk_headers, METH_VARARGS, "The index's layer walk over the plain packet shapes."},
    {"walk_apps", walk_apps, METH_VARARGS, "What the walked rows carry: presence bits and Protocol Name."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_walk", NULL, -1, methods};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }
