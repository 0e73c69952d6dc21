/* Linear combinations of equal-length byte blocks over GF(2^8).
 *
 * The "crs" codec (codec.py) is Reed-Solomon over GF(2^8) with zfec's field
 * (x^8 + x^4 + x^3 + x^2 + 1, 0x11D).  Every output block of an encode, and of
 * a decode, is a linear combination of the input blocks:
 *
 *     out[r][i] = XOR over j of  coef[r][j] * in[j][i]
 *
 * codec.py learns the coefficients of a given k, N (and, for decoding, a given
 * set of share numbers) from zfec itself and hands them here; this module only
 * multiplies.  It multiplies 32 (AVX2) or 16 (SSSE3) bytes at a time with the
 * split-nibble method: c*x = c*(x & 15) XOR c*(x & 240), each half a lookup in
 * a 16-entry table done by one byte-shuffle instruction.  A plain table loop
 * serves other processors.  The GIL is released while it works.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define GF_X86 1
#endif

#define GF_POLY 0x11D
#define GF_CHUNK 4096   /* bytes of each input processed together (stays in L1) */
#define GF_MAX_BLOCKS 256

static uint8_t gf_mul[256][256];
static uint8_t gf_nib_lo[256][16] __attribute__((aligned(16)));
static uint8_t gf_nib_hi[256][16] __attribute__((aligned(16)));

static void
build_tables(void)
{
    uint8_t exp_[512], log_[256];
    unsigned x = 1;
    memset(log_, 0, sizeof(log_));
    for (int i = 0; i < 255; i++) {
        exp_[i] = (uint8_t)x;
        log_[x] = (uint8_t)i;
        x <<= 1;
        if (x & 0x100)
            x ^= GF_POLY;
    }
    for (int i = 255; i < 512; i++)
        exp_[i] = exp_[i - 255];
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++)
            gf_mul[a][b] = (a && b) ? exp_[log_[a] + log_[b]] : 0;
    for (int c = 0; c < 256; c++)
        for (int n = 0; n < 16; n++) {
            gf_nib_lo[c][n] = gf_mul[c][n];
            gf_nib_hi[c][n] = gf_mul[c][n << 4];
        }
}

/* out[i] = XOR_j coef[j] * src[j][i], for i in [0, len) */
static void
combine_scalar(uint8_t *out, const uint8_t *const *src, const uint8_t *coef,
               int k, size_t len)
{
    memset(out, 0, len);
    for (int j = 0; j < k; j++) {
        const uint8_t c = coef[j];
        const uint8_t *s = src[j];
        if (c == 0)
            continue;
        if (c == 1) {
            for (size_t i = 0; i < len; i++)
                out[i] ^= s[i];
        } else {
            const uint8_t *t = gf_mul[c];
            for (size_t i = 0; i < len; i++)
                out[i] ^= t[s[i]];
        }
    }
}

#ifdef GF_X86
/* bytes [done, len) that a vector loop left over */
static void
combine_tail(uint8_t *out, const uint8_t *const *src, const uint8_t *coef, int k,
             size_t done, size_t len)
{
    if (done < len) {
        const uint8_t *tail[GF_MAX_BLOCKS];
        for (int j = 0; j < k; j++)
            tail[j] = src[j] + done;
        combine_scalar(out + done, tail, coef, k, len - done);
    }
}

__attribute__((target("avx2")))
static void
combine_avx2(uint8_t *out, const uint8_t *const *src, const uint8_t *coef,
             int k, size_t len)
{
    const __m256i mask = _mm256_set1_epi8(0x0f);
    __m256i lo_t[k], hi_t[k];
    for (int j = 0; j < k; j++) {
        lo_t[j] = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)gf_nib_lo[coef[j]]));
        hi_t[j] = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)gf_nib_hi[coef[j]]));
    }
    size_t i = 0;
    for (; i + 32 <= len; i += 32) {
        __m256i acc = _mm256_setzero_si256();
        for (int j = 0; j < k; j++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(src[j] + i));
            __m256i lo = _mm256_and_si256(v, mask);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
            acc = _mm256_xor_si256(acc, _mm256_xor_si256(_mm256_shuffle_epi8(lo_t[j], lo),
                                                         _mm256_shuffle_epi8(hi_t[j], hi)));
        }
        _mm256_storeu_si256((__m256i *)(out + i), acc);
    }
    combine_tail(out, src, coef, k, i, len);
}

__attribute__((target("ssse3")))
static void
combine_ssse3(uint8_t *out, const uint8_t *const *src, const uint8_t *coef,
              int k, size_t len)
{
    const __m128i mask = _mm_set1_epi8(0x0f);
    __m128i lo_t[k], hi_t[k];
    for (int j = 0; j < k; j++) {
        lo_t[j] = _mm_load_si128((const __m128i *)gf_nib_lo[coef[j]]);
        hi_t[j] = _mm_load_si128((const __m128i *)gf_nib_hi[coef[j]]);
    }
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m128i acc = _mm_setzero_si128();
        for (int j = 0; j < k; j++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(src[j] + i));
            __m128i lo = _mm_and_si128(v, mask);
            __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
            acc = _mm_xor_si128(acc, _mm_xor_si128(_mm_shuffle_epi8(lo_t[j], lo),
                                                   _mm_shuffle_epi8(hi_t[j], hi)));
        }
        _mm_storeu_si128((__m128i *)(out + i), acc);
    }
    combine_tail(out, src, coef, k, i, len);
}
#endif

typedef void (*combine_fn)(uint8_t *, const uint8_t *const *, const uint8_t *, int, size_t);
static combine_fn combine = combine_scalar;
static const char *combine_name = "scalar";

/* Every row of `rows` over the whole length, a chunk of the inputs at a time. */
static void
combine_rows(uint8_t **outs, const uint8_t *const *src, const uint8_t *coefs,
             int nrows, int k, size_t len)
{
    const uint8_t *part[GF_MAX_BLOCKS];
    for (size_t off = 0; off < len; off += GF_CHUNK) {
        size_t n = len - off < GF_CHUNK ? len - off : GF_CHUNK;
        for (int j = 0; j < k; j++)
            part[j] = src[j] + off;
        for (int r = 0; r < nrows; r++)
            combine(outs[r] + off, part, coefs + (size_t)r * k, k, n);
    }
}

PyDoc_STRVAR(combine_doc,
"combine(coefficients, rows, blocks) -> list of bytes\n\n"
"``blocks`` is a sequence of k equal-length bytes-like objects and\n"
"``coefficients`` a bytes of rows*k field elements, row by row.  Returns\n"
"``rows`` new blocks, block r being the sum over j of\n"
"coefficients[r*k + j] * blocks[j] in GF(2^8) (polynomial 0x11D).");

static PyObject *
gf_combine(PyObject *self, PyObject *args)
{
    Py_buffer coefs;
    int nrows;
    PyObject *blocks_arg;
    if (!PyArg_ParseTuple(args, "y*iO:combine", &coefs, &nrows, &blocks_arg))
        return NULL;

    PyObject *result = NULL, *seq = NULL;
    Py_buffer views[GF_MAX_BLOCKS];
    int nviews = 0;
    const uint8_t *src[GF_MAX_BLOCKS];
    uint8_t *outs[GF_MAX_BLOCKS];

    seq = PySequence_Fast(blocks_arg, "blocks must be a sequence");
    if (seq == NULL)
        goto done;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(seq);
    if (k < 1 || k > GF_MAX_BLOCKS) {
        PyErr_Format(PyExc_ValueError, "need 1 to %d blocks, got %zd", GF_MAX_BLOCKS, k);
        goto done;
    }
    if (nrows < 0 || nrows > GF_MAX_BLOCKS) {
        PyErr_Format(PyExc_ValueError, "rows must be 0 to %d, got %d", GF_MAX_BLOCKS, nrows);
        goto done;
    }
    if (coefs.len != (Py_ssize_t)nrows * k) {
        PyErr_Format(PyExc_ValueError, "%d rows of %zd blocks need %zd coefficients, got %zd",
                     nrows, k, (Py_ssize_t)nrows * k, coefs.len);
        goto done;
    }
    Py_ssize_t len = -1;
    for (Py_ssize_t j = 0; j < k; j++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, j), &views[nviews],
                               PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        nviews++;
        if (len < 0)
            len = views[j].len;
        else if (views[j].len != len) {
            PyErr_Format(PyExc_ValueError, "block %zd is %zd bytes, block 0 is %zd",
                         j, views[j].len, len);
            goto done;
        }
        src[j] = (const uint8_t *)views[j].buf;
    }
    result = PyList_New(nrows);
    if (result == NULL)
        goto done;
    for (int r = 0; r < nrows; r++) {
        PyObject *b = PyBytes_FromStringAndSize(NULL, len);
        if (b == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, r, b);
        outs[r] = (uint8_t *)PyBytes_AS_STRING(b);
    }
    Py_BEGIN_ALLOW_THREADS
    combine_rows(outs, src, (const uint8_t *)coefs.buf, nrows, (int)k, (size_t)len);
    Py_END_ALLOW_THREADS

done:
    for (int j = 0; j < nviews; j++)
        PyBuffer_Release(&views[j]);
    Py_XDECREF(seq);
    PyBuffer_Release(&coefs);
    return result;
}

static PyObject *
gf_mul_py(PyObject *self, PyObject *args)
{
    int a, b;
    if (!PyArg_ParseTuple(args, "ii:mul", &a, &b))
        return NULL;
    if (a < 0 || a > 255 || b < 0 || b > 255) {
        PyErr_SetString(PyExc_ValueError, "field elements are 0..255");
        return NULL;
    }
    return PyLong_FromLong(gf_mul[a][b]);
}

static PyObject *
gf_use_kernel(PyObject *self, PyObject *args)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s:use_kernel", &name))
        return NULL;
    if (strcmp(name, "scalar") == 0) {
        combine = combine_scalar;
        combine_name = "scalar";
    }
#ifdef GF_X86
    else if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2")) {
        combine = combine_avx2;
        combine_name = "avx2";
    } else if (strcmp(name, "ssse3") == 0 && __builtin_cpu_supports("ssse3")) {
        combine = combine_ssse3;
        combine_name = "ssse3";
    }
#endif
    else {
        PyErr_Format(PyExc_ValueError, "kernel %s is not available here", name);
        return NULL;
    }
    return PyUnicode_FromString(combine_name);
}

static PyObject *
gf_kernel(PyObject *self, PyObject *noargs)
{
    return PyUnicode_FromString(combine_name);
}

static PyMethodDef gf_methods[] = {
    {"use_kernel", gf_use_kernel, METH_VARARGS,
     "use_kernel(name): multiply with 'avx2', 'ssse3' or 'scalar' from now on (tests)"},
    {"kernel", gf_kernel, METH_NOARGS, "the name of the multiplying loop in use"},
    {"combine", gf_combine, METH_VARARGS, combine_doc},
    {"mul", gf_mul_py, METH_VARARGS, "mul(a, b) -> the product of two field elements"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef gf_module = {
    PyModuleDef_HEAD_INIT, "_gf256",
    "Linear combinations of byte blocks over GF(2^8), for the crs codec.",
    -1, gf_methods
};

PyMODINIT_FUNC
PyInit__gf256(void)
{
    build_tables();
#ifdef GF_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        combine = combine_avx2;
        combine_name = "avx2";
    } else if (__builtin_cpu_supports("ssse3")) {
        combine = combine_ssse3;
        combine_name = "ssse3";
    }
#endif
    return PyModule_Create(&gf_module);
}
