//! How the simulator prints JSON: `serde_json`, laid out as `{"a": 1, "b": [1, 2]}`, with
//! each figure rounded to the precision it is measured to.
//!
//! The layout (a space after every `:` and `,`, all on one line) is what `--json` has
//! always printed, so a line-oriented tool (`grep '"trace_hash": "'`) keeps working. The
//! rounding goes through the decimal text (`format!("{v:.3}")` read back as `f64`), so a
//! figure is exactly the value that the decimal names. serde_json then prints it in its
//! shortest form (`3.5` for `3.500`, `120.0` for `120.000`).

use serde::Serializer;
use serde::ser::{Serialize, SerializeMap};
use std::io;

/// The one-line `{"a": 1, "b": [1, 2]}` layout.
struct Spaced;

impl serde_json::ser::Formatter for Spaced {
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { out.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { out.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, out: &mut W) -> io::Result<()> {
        out.write_all(b": ")
    }
}

/// `value` as one line of JSON in the simulator's layout.
///
/// # Panics
///
/// If `value`'s `Serialize` fails, which none of this crate's types does: they hold
/// only strings, numbers, lists and maps keyed by strings, and the output is a `Vec`.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::with_capacity(1024);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, Spaced);
    value.serialize(&mut serializer).expect("the simulator's reports serialize to JSON");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// `v` rounded to `decimals` places, as the decimal text rounds it. A value that is not
/// finite stays as it is (serde_json prints it as null).
pub fn round(v: f64, decimals: usize) -> f64 {
    if !v.is_finite() {
        return v;
    }
    format!("{v:.decimals$}").parse().unwrap_or(v)
}

/// Three decimal places (seconds: to the millisecond).
pub(crate) fn round3<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round(*v, 3))
}

/// Three decimal places, or null.
pub(crate) fn round3_or_null<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_f64(round(*v, 3)),
        None => s.serialize_none(),
    }
}

/// One decimal place (bytes per node per second).
pub(crate) fn round1<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round(*v, 1))
}

/// Two decimal places (packets per node per second).
pub(crate) fn round2<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round(*v, 2))
}

/// `Report::bytes_by_kind` as `{"kind": {"messages": m, "bytes": b}, ...}`, messages to two
/// places and bytes to one.
pub(crate) fn by_kind<S: Serializer>(kinds: &[(String, f64, f64)], s: S) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct Kind {
        messages: f64,
        bytes: f64,
    }
    let mut map = s.serialize_map(Some(kinds.len()))?;
    for (kind, messages, bytes) in kinds {
        map.serialize_entry(kind, &Kind { messages: round(*messages, 2), bytes: round(*bytes, 1) })?;
    }
    map.end()
}

/// A figure that prints as an integer when it is one (`0`, not `0.0`), as the `--seeds`
/// statistics of counts (`false_positives`, `steps`) should; or null.
pub(crate) fn figure<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    /// Integers up to here are exact in an `f64`.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match *v {
        None => s.serialize_none(),
        Some(v) if v.fract() == 0.0 && v.abs() < EXACT => s.serialize_i64(v as i64),
        Some(v) => s.serialize_f64(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_has_a_space_after_colons_and_commas() {
        let v = serde_json::json!({"a": [1, 2], "b": {"c": null}, "d": "x, y: z"});
        assert_eq!(to_string(&v), r#"{"a": [1, 2], "b": {"c": null}, "d": "x, y: z"}"#);
        assert_eq!(to_string(&Vec::<u8>::new()), "[]");
    }

    #[test]
    fn rounding_is_that_of_the_decimal_text() {
        // 2.675 is stored a little below itself, so its text at two places is 2.67.
        let cases = [(3.4996, 3, "3.5"), (1303.94, 1, "1303.9"), (6.2199999, 2, "6.22"), (2.675, 2, "2.67")];
        for (v, places, printed) in cases {
            assert_eq!(to_string(&round(v, places)), printed, "{v} to {places} places");
        }
        assert_eq!(to_string(&round(120.0, 3)), "120.0");
        assert_eq!(to_string(&round(f64::NAN, 3)), "null");
    }
}
