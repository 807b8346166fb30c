/* The project's own int8 LSTM runtime (firmware/runtime/wc_model.c, the very source the firmware compiles) as a
 * CPython extension, so the Pi agent runs the int8 LSTMs with the microcontroller's arithmetic.
 *
 * A Model is built from one bytes blob that device/models/wattcast_runtime.py packs from the shipped .tflite at load
 * time (nothing is compiled in): int32 header words, then per layer its int32 words and its weight and bias arrays,
 * then the head's weights, every array starting on a 4-byte boundary. The blob is copied, checked against the
 * compiled limits, and the wc_model_t points into the copy. Model.predict takes many int8 windows in one contiguous
 * buffer and returns their int8 outputs as bytes, with the GIL released while it runs. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "wc_model.h"

#define BLOB_VERSION 1
#define HEADER_WORDS 19
#define LAYER_WORDS 29

typedef struct {
    PyObject_HEAD
    wc_model_t model;
    wc_lstm_layer_t layers[WC_MAX_LAYERS];
    int32_t *blob; /* int32 storage: every array in it is word-aligned */
    Py_ssize_t window_bytes;
} ModelObject;

/* A cursor over the blob's copy; a NULL result means the blob ended early. */
typedef struct {
    const char *at;
    const char *end;
} Cursor;

static const void *take(Cursor *c, Py_ssize_t bytes) {
    const Py_ssize_t padded = (bytes + 3) & ~(Py_ssize_t)3;
    if (bytes < 0 || c->end - c->at < padded) return NULL;
    const void *start = c->at;
    c->at += padded;
    return start;
}

static int shift_ok(int32_t shift) { return shift >= -31 && shift <= 30; }

static wc_scale_t scale_at(const int32_t *w, int *ok) {
    wc_scale_t s = {w[0], w[1]};
    if (!shift_ok(s.shift)) *ok = 0;
    return s;
}

/* Fills self->model from the blob copy; 0 on success, else -1 with a ValueError set. */
static int unpack(ModelObject *self, Py_ssize_t size) {
    Cursor c = {(const char *)self->blob, (const char *)self->blob + size};
    const int32_t *h = take(&c, HEADER_WORDS * 4);
    int ok = 1;
    if (!h || h[0] != BLOB_VERSION) {
        PyErr_SetString(PyExc_ValueError, "not a wattcast model blob of this version");
        return -1;
    }
    const int32_t seq_len = h[1], n_features = h[2], n_layers = h[3];
    if (seq_len < 1 || seq_len > 65535 || n_features < 1 || n_layers < 1 || n_layers > WC_MAX_LAYERS) {
        PyErr_Format(PyExc_ValueError, "%d layers, %d steps of %d features: outside this build (at most %d layers)",
                     (int)n_layers, (int)seq_len, (int)n_features, WC_MAX_LAYERS);
        return -1;
    }
    wc_model_t *m = &self->model;
    m->seq_len = (uint16_t)seq_len;
    m->n_features = (uint16_t)n_features;
    m->n_layers = (uint16_t)n_layers;
    m->layers = self->layers;
    m->head_bias = h[4];
    m->head_scale = scale_at(h + 5, &ok);
    m->head_output_offset = h[7];
    m->residual.enabled = h[8];
    m->residual.input_index = h[9];
    m->residual.dense_offset = h[10];
    m->residual.input_offset = h[11];
    m->residual.output_offset = h[12];
    m->residual.dense_scale = scale_at(h + 13, &ok);
    m->residual.input_scale = scale_at(h + 15, &ok);
    m->residual.output_scale = scale_at(h + 17, &ok);
    if (m->residual.enabled && (m->residual.input_index < 0 || m->residual.input_index >= seq_len * n_features)) {
        PyErr_SetString(PyExc_ValueError, "the residual reads outside the window");
        return -1;
    }
    int32_t previous = n_features;
    for (int32_t k = 0; k < n_layers; ++k) {
        const int32_t *w = take(&c, LAYER_WORDS * 4);
        if (!w) break;
        wc_lstm_layer_t *l = &self->layers[k];
        const int32_t input_dim = w[0], state_dim = w[1];
        if (input_dim != previous || state_dim < 1 || WC_PADDED(state_dim) > WC_MAX_STATE ||
            WC_PADDED(input_dim) > WC_MAX_STATE) {
            PyErr_Format(PyExc_ValueError, "layer %d: %d inputs, %d units: not chained, or over this build's %d",
                         (int)k, (int)input_dim, (int)state_dim, WC_MAX_STATE);
            return -1;
        }
        previous = state_dim;
        l->input_dim = (uint16_t)input_dim;
        l->state_dim = (uint16_t)state_dim;
        for (int g = 0; g < 4; ++g) {
            l->input_scale[g] = scale_at(w + 3 + 2 * g, &ok);
            l->recurrent_scale[g] = scale_at(w + 11 + 2 * g, &ok);
        }
        l->forget_cell = scale_at(w + 19, &ok);
        l->input_cell = scale_at(w + 21, &ok);
        l->hidden = scale_at(w + 23, &ok);
        l->hidden_zero_point = w[25];
        l->cell_clip = w[26];
        l->tanh_multiplier = w[27];
        l->tanh_shift = w[28];
        if (l->tanh_shift < 0 || l->tanh_shift > 30) ok = 0;
        l->input_weights = take(&c, (Py_ssize_t)state_dim * WC_PADDED(input_dim) * 4);
        l->recurrent_weights = take(&c, (Py_ssize_t)state_dim * WC_PADDED(state_dim) * 4);
        l->input_bias = take(&c, (Py_ssize_t)state_dim * 4 * 4);
        l->recurrent_bias = w[2] ? take(&c, (Py_ssize_t)state_dim * 4 * 4) : NULL;
        if (!l->input_weights || !l->recurrent_weights || !l->input_bias || (w[2] && !l->recurrent_bias)) {
            c.at = c.end + 1; /* marks the blob short */
            break;
        }
    }
    m->head_weights = c.at <= c.end ? take(&c, previous) : NULL;
    if (!m->head_weights || c.at != c.end) {
        PyErr_SetString(PyExc_ValueError, "the blob's size does not match its header");
        return -1;
    }
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "a fixed-point shift is out of range");
        return -1;
    }
    self->window_bytes = (Py_ssize_t)seq_len * n_features;
    return 0;
}

static int Model_init(ModelObject *self, PyObject *args, PyObject *kwds) {
    static char *keywords[] = {"blob", NULL};
    Py_buffer view;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*:Model", keywords, &view)) return -1;
    PyMem_Free(self->blob);
    self->blob = PyMem_Malloc(view.len > 0 ? (size_t)view.len : 1);
    if (!self->blob) {
        PyBuffer_Release(&view);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(self->blob, view.buf, (size_t)view.len);
    const Py_ssize_t size = view.len;
    PyBuffer_Release(&view);
    return unpack(self, size);
}

static void Model_dealloc(ModelObject *self) {
    PyMem_Free(self->blob);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(predict_doc,
             "predict(windows) -> bytes\n\n"
             "The int8 output of every window: ``windows`` is any C-contiguous buffer of 1-byte items holding n\n"
             "int8 windows of seq_len x n_features each, one after the other; the result holds n int8 bytes.");

static PyObject *Model_predict(ModelObject *self, PyObject *windows) {
    Py_buffer view;
    if (self->window_bytes == 0) {
        PyErr_SetString(PyExc_ValueError, "the model was not initialised");
        return NULL;
    }
    if (PyObject_GetBuffer(windows, &view, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (view.itemsize != 1 || view.len % self->window_bytes != 0) {
        PyErr_Format(PyExc_ValueError, "windows must be 1-byte items, a multiple of %zd per window (got %zd x %zd)",
                     self->window_bytes, view.len / (view.itemsize ? view.itemsize : 1), view.itemsize);
        PyBuffer_Release(&view);
        return NULL;
    }
    const Py_ssize_t n = view.len / self->window_bytes;
    PyObject *result = PyBytes_FromStringAndSize(NULL, n);
    if (!result) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const int8_t *in = view.buf;
    int8_t *out = (int8_t *)PyBytes_AS_STRING(result);
    int rc = WC_OK;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n && rc == WC_OK; ++i) {
        rc = wc_predict(&self->model, in + i * self->window_bytes, out + i);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (rc != WC_OK) {
        Py_DECREF(result);
        PyErr_Format(PyExc_RuntimeError, "wc_predict refused a window (error %d)", rc);
        return NULL;
    }
    return result;
}

static PyObject *Model_window_bytes(ModelObject *self, void *closure) {
    (void)closure;
    return PyLong_FromSsize_t(self->window_bytes);
}

static PyMethodDef Model_methods[] = {
    {"predict", (PyCFunction)Model_predict, METH_O, predict_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Model_getset[] = {
    {"window_bytes", (getter)Model_window_bytes, NULL, "bytes of one int8 window (seq_len x n_features)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "device.models._wattcast_lstm.Model",
    .tp_basicsize = sizeof(ModelObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = PyDoc_STR("Model(blob): one int8 LSTM stack with a dense head on wattcast's own C runtime."),
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Model_init,
    .tp_dealloc = (destructor)Model_dealloc,
    .tp_methods = Model_methods,
    .tp_getset = Model_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "device.models._wattcast_lstm",
    .m_doc = "wattcast's own int8 LSTM runtime (firmware/runtime/wc_model.c) for the Pi agent.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__wattcast_lstm(void) {
    if (PyType_Ready(&ModelType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "BLOB_VERSION", BLOB_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "MAX_STATE", WC_MAX_STATE) < 0 ||
        PyModule_AddIntConstant(m, "MAX_LAYERS", WC_MAX_LAYERS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&ModelType);
    if (PyModule_AddObject(m, "Model", (PyObject *)&ModelType) < 0) {
        Py_DECREF(&ModelType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
