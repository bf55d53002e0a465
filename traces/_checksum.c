/*
 * CRC-32C (Castagnoli) of the index cache's files: what the cache entry's manifest and the field
 * columns record for every file, and check again on every load.
 *
 * zlib's CRC-32 runs at about 2.5 GB/s here: a quarter to a half of the time a large trace takes
 * to reopen from its cache went into it.  The CRC-32C instruction of x86-64 (SSE 4.2) and of
 * ARMv8 does the same check two to three times faster; without either (or compiled for another
 * machine) a table-driven loop (eight bytes a step) gives the same values.
 *
 * crc32c(data, value=0) -> int
 *     The CRC-32C of ``data`` (any buffer), continuing from ``value`` as ``zlib.crc32`` does:
 *     crc32c(b, crc32c(a)) == crc32c(a + b).  The interpreter lock is released for large data.
 * crc32c_table(data, value=0) -> int
 *     The same, always by the table: the reference the instruction is tested against.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define HAVE_X86_CRC 1
#endif
#if defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
#define HAVE_ARM_CRC 1
#endif

/* data at least this long is checked without the interpreter lock */
#define RELEASE_GIL_BYTES (64 * 1024)

static uint32_t table[8][256];

static void make_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
}

static int little_endian(void) {
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* the register form (the complement taken by the callers) */
static uint32_t by_table(uint32_t c, const unsigned char *p, size_t n) {
    if (little_endian()) {
        for (; n >= 8; p += 8, n -= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            w ^= c;
            c = table[7][w & 0xFF] ^ table[6][(w >> 8) & 0xFF] ^ table[5][(w >> 16) & 0xFF] ^
                table[4][(w >> 24) & 0xFF] ^ table[3][(w >> 32) & 0xFF] ^ table[2][(w >> 40) & 0xFF] ^
                table[1][(w >> 48) & 0xFF] ^ table[0][w >> 56];
        }
    }
    for (; n; p++, n--) c = table[0][(c ^ *p) & 0xFF] ^ (c >> 8);
    return c;
}

#ifdef HAVE_X86_CRC
__attribute__((target("sse4.2"))) static uint32_t by_instruction(uint32_t c, const unsigned char *p, size_t n) {
    uint64_t c64 = c;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = _mm_crc32_u64(c64, w);
    }
    uint32_t c32 = (uint32_t)c64;
    for (; n; p++, n--) c32 = _mm_crc32_u8(c32, *p);
    return c32;
}
#elif defined(HAVE_ARM_CRC)
static uint32_t by_instruction(uint32_t c, const unsigned char *p, size_t n) {
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __crc32cd(c, w);
    }
    for (; n; p++, n--) c = __crc32cb(c, *p);
    return c;
}
#endif

static int instruction = 0;

static uint32_t by_either(uint32_t c, const unsigned char *p, size_t n, int use_instruction) {
#if defined(HAVE_X86_CRC) || defined(HAVE_ARM_CRC)
    if (use_instruction) return by_instruction(c, p, n);
#else
    (void)use_instruction;
#endif
    return by_table(c, p, n);
}

static PyObject *checksum(PyObject *args, PyObject *kwargs, int use_instruction) {
    static char *names[] = {"data", "value", NULL};
    Py_buffer in;
    unsigned long value = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|k", names, &in, &value)) return NULL;
    const unsigned char *p = (const unsigned char *)in.buf;
    size_t n = (size_t)in.len;
    uint32_t c = ~(uint32_t)value;
    if (n >= RELEASE_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        c = by_either(c, p, n, use_instruction);
        Py_END_ALLOW_THREADS
    } else {
        c = by_either(c, p, n, use_instruction);
    }
    PyBuffer_Release(&in);
    return PyLong_FromUnsignedLong((unsigned long)~c);
}

static PyObject *crc32c(PyObject *self, PyObject *args, PyObject *kwargs) {
    return checksum(args, kwargs, instruction);
}

static PyObject *crc32c_table(PyObject *self, PyObject *args, PyObject *kwargs) {
    return checksum(args, kwargs, 0);
}

static PyMethodDef methods[] = {
    {"crc32c", (PyCFunction)(void (*)(void))crc32c, METH_VARARGS | METH_KEYWORDS,
     "crc32c(data, value=0) -> int: the CRC-32C of data, continuing from value"},
    {"crc32c_table", (PyCFunction)(void (*)(void))crc32c_table, METH_VARARGS | METH_KEYWORDS,
     "crc32c_table(data, value=0) -> int: crc32c computed by the table (the reference)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_checksum", NULL, -1, methods};

PyMODINIT_FUNC PyInit__checksum(void) {
    make_table();
#ifdef HAVE_X86_CRC
    __builtin_cpu_init();
    instruction = __builtin_cpu_supports("sse4.2") != 0;
#elif defined(HAVE_ARM_CRC)
    instruction = 1;
#endif
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "INSTRUCTION", instruction) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
