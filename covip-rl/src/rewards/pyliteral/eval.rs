//! Evaluation of parsed nodes: `ast.literal_eval`'s `_convert`.
use std::collections::{HashMap, HashSet};

use super::parse::Node;
use super::{HashKey, LiteralError, PyValue, Result};

/// A number constant (`_convert_num`): int, float or complex, not bool.
fn number(node: Node) -> Result<PyValue> {
    match node {
        Node::Const(v @ (PyValue::Int(_) | PyValue::Float(_) | PyValue::Complex { .. })) => Ok(v),
        _ => Err(LiteralError::Malformed("not a number")),
    }
}

/// A number with at most one unary sign (`_convert_signed_num`).
fn signed_number(node: Node) -> Result<PyValue> {
    let Node::Unary { negative, operand } = node else {
        return number(node);
    };
    let v = number(*operand)?;
    if !negative {
        return Ok(v);
    }
    Ok(match v {
        PyValue::Int(i) => PyValue::Int(i.negated()),
        PyValue::Float(x) => PyValue::Float(-x),
        PyValue::Complex { re, im } => PyValue::Complex { re: -re, im: -im },
        _ => unreachable!("number() returns numbers only"),
    })
}

/// Distinct values by Python equality, the first of each group kept.
fn distinct(values: Vec<PyValue>) -> Result<Vec<PyValue>> {
    let mut seen = HashSet::with_capacity(values.len());
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if seen.insert(v.hash_key()?) {
            out.push(v);
        }
    }
    Ok(out)
}

/// The value of a parsed literal, or why `literal_eval` rejects it.
pub(super) fn convert(node: Node) -> Result<PyValue> {
    Ok(match node {
        Node::Const(v) => v,
        Node::Tuple(items) => {
            PyValue::Tuple(items.into_iter().map(convert).collect::<Result<_>>()?)
        }
        Node::List(items) => PyValue::List(items.into_iter().map(convert).collect::<Result<_>>()?),
        Node::Set(items) => PyValue::Set(distinct(
            items.into_iter().map(convert).collect::<Result<_>>()?,
        )?),
        Node::SetCall => PyValue::Set(Vec::new()),
        Node::Dict(pairs) => {
            let mut index: HashMap<HashKey, usize> = HashMap::with_capacity(pairs.len());
            let mut out: Vec<(PyValue, PyValue)> = Vec::with_capacity(pairs.len());
            // Python converts all keys, then all values; the first failure is reported either
            // way, and which one does not matter here.
            for (k, v) in pairs {
                let key = convert(k)?;
                let value = convert(v)?;
                match index.entry(key.hash_key()?) {
                    std::collections::hash_map::Entry::Occupied(slot) => out[*slot.get()].1 = value,
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(out.len());
                        out.push((key, value));
                    }
                }
            }
            PyValue::Dict(out)
        }
        Node::BinOp {
            subtract,
            left,
            right,
        } => {
            let left = signed_number(*left)?;
            let right = number(*right)?;
            let PyValue::Complex { re: rre, im: rim } = right else {
                return Err(LiteralError::Malformed(
                    "binary operation without an imaginary right operand",
                ));
            };
            let l = match left {
                PyValue::Int(i) => i.to_f64().ok_or(LiteralError::IntTooLargeForFloat)?,
                PyValue::Float(x) => x,
                _ => return Err(LiteralError::Malformed("complex left operand")),
            };
            // complex(l, 0.0) +/- complex(rre, rim), component by component as CPython does.
            if subtract {
                PyValue::Complex {
                    re: l - rre,
                    im: 0.0 - rim,
                }
            } else {
                PyValue::Complex {
                    re: l + rre,
                    im: 0.0 + rim,
                }
            }
        }
        node @ Node::Unary { .. } => signed_number(node)?,
        Node::Name { .. } => return Err(LiteralError::Malformed("name")),
    })
}
