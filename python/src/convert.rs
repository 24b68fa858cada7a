//! Conversions between the library's values and Python's.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::IntoPyObjectExt;
use strads_ap_apps::ApAppError;
use strads_apps::AppError;

/// A JSON value (a trace record, a summary) as the Python value `json.loads` would give.
pub fn json_to_py(py: Python<'_>, value: &serde_json::Value) -> PyResult<PyObject> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None(),
        Value::Bool(b) => b.into_py_any(py)?,
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into_py_any(py)?,
            (None, Some(f)) => f.into_py_any(py)?,
            _ => py.None(),
        },
        Value::String(s) => s.into_py_any(py)?,
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Value::Object(fields) => {
            let dict = PyDict::new(py);
            for (key, item) in fields {
                dict.set_item(key, json_to_py(py, item)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

/// A serialisable value as a Python dict (or list).
pub fn to_py<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<PyObject> {
    let json = serde_json::to_value(value)
        .map_err(|e| PyValueError::new_err(format!("cannot convert a result: {e}")))?;
    json_to_py(py, &json)
}

/// A library error as a Python exception: bad input or arguments are `ValueError`s, the rest
/// (a failed cluster, exhausted resources) `RuntimeError`s.
pub fn app_error(error: AppError) -> PyErr {
    match error.exit_code() {
        2 => PyValueError::new_err(error.to_string()),
        _ => pyo3::exceptions::PyRuntimeError::new_err(error.to_string()),
    }
}

/// A STRADS-AP app's error as a Python exception, as [`app_error`] sorts them.
pub fn ap_app_error(error: ApAppError) -> PyErr {
    if error.is_bad_input() {
        PyValueError::new_err(error.to_string())
    } else {
        pyo3::exceptions::PyRuntimeError::new_err(error.to_string())
    }
}
