/*
 * A SIGBUS safety net for memory-mapped traces.
 *
 * A trace is read through a shared read-only mapping of the file.  When the file shrinks while
 * it is open (truncated, rewritten in place), touching a page past its new end raises SIGBUS,
 * which a Python handler cannot catch: the faulting instruction runs again and faults again, so
 * the process dies and leaves the terminal in raw mode.  trace.py checks the file's size before
 * the reads it makes on a caller's behalf; this handler covers the race between that check and
 * the read, and bulk reads (NumPy gathers) that no check precedes.
 *
 * For a fault inside a watched mapping the handler maps one page of zeros over the faulting page
 * (MAP_FIXED, anonymous) and returns: the read goes on and sees zeros, the fault is counted, and
 * Trace.check_file reports the change as a TraceError at the next check.  Any other SIGBUS gets
 * the previous disposition back (faulthandler's, or the default) and faults again under it.
 * munmap of the whole mapping, when the trace is closed, removes the patched pages with it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_RANGES 256

typedef struct {
    volatile uintptr_t start; /* 0 = free slot */
    volatile uintptr_t end;
    volatile long faults;
} Range;

static Range ranges[MAX_RANGES];
static struct sigaction previous;
static int installed = 0;
static uintptr_t page_mask = 0;

static void on_sigbus(int sig, siginfo_t *info, void *context) {
    uintptr_t addr = (uintptr_t)info->si_addr;
    for (int i = 0; i < MAX_RANGES; i++) {
        uintptr_t start = ranges[i].start;
        if (start && start <= addr && addr < ranges[i].end) {
            void *page = (void *)(addr & page_mask);
            void *got = mmap(page, (size_t)(~page_mask + 1), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                             -1, 0);
            if (got != MAP_FAILED) {
                ranges[i].faults++;
                return; /* the read runs again and sees zeros */
            }
            break;
        }
    }
    /* not a watched mapping (or no memory for a page): fault again under the previous handler */
    sigaction(SIGBUS, &previous, NULL);
    (void)sig;
    (void)context;
}

static int install(void) {
    if (installed) return 0;
    long size = sysconf(_SC_PAGESIZE);
    if (size <= 0) size = 4096;
    page_mask = ~((uintptr_t)size - 1);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, &previous) != 0) return -1;
    installed = 1;
    return 0;
}

/* watch(buffer) -> address: guard the memory of a mapping (an mmap object) */
static PyObject *watch(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) != 0) return NULL;
    uintptr_t start = (uintptr_t)view.buf;
    uintptr_t end = start + (uintptr_t)view.len;
    PyBuffer_Release(&view); /* only the address is kept: the mapping can still be closed */
    if (install() != 0) return PyErr_SetFromErrno(PyExc_OSError);
    for (int i = 0; i < MAX_RANGES; i++) {
        if (ranges[i].start == 0) {
            ranges[i].faults = 0;
            ranges[i].end = end;
            ranges[i].start = start; /* published last: the handler never sees a half slot */
            return PyLong_FromUnsignedLongLong((unsigned long long)start);
        }
    }
    return PyLong_FromLong(0); /* every slot in use: this mapping goes unguarded */
}

/* unwatch(address): stop guarding (call before the mapping is closed) */
static PyObject *unwatch(PyObject *self, PyObject *arg) {
    uintptr_t start = (uintptr_t)PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred()) return NULL;
    for (int i = 0; i < MAX_RANGES; i++) {
        if (start && ranges[i].start == start) ranges[i].start = 0;
    }
    Py_RETURN_NONE;
}

/* faults(address) -> the number of pages past the end of the file that reads touched */
static PyObject *faults(PyObject *self, PyObject *arg) {
    uintptr_t start = (uintptr_t)PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred()) return NULL;
    for (int i = 0; i < MAX_RANGES; i++) {
        if (start && ranges[i].start == start) return PyLong_FromLong(ranges[i].faults);
    }
    return PyLong_FromLong(0);
}

static PyMethodDef methods[] = {
    {"watch", watch, METH_O, "Guard a mapping's memory against SIGBUS; returns its address (0: not guarded)."},
    {"unwatch", unwatch, METH_O, "Stop guarding the mapping at this address."},
    {"faults", faults, METH_O, "Pages past the end of the file that reads of this mapping touched."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_mapguard", NULL, -1, methods};

PyMODINIT_FUNC PyInit__mapguard(void) { return PyModule_Create(&module); }
