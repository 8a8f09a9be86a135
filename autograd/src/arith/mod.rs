//! Elementwise arithmetic on variables, and the operators built on it.
//!
//! The primitive ops `add`, `sub`, `mul`, `div`, `neg`, `add_scalar` and
//! `mul_scalar` live here (one file each, with their math), so that [`Var`]
//! and [`Tensor`] can have Rust's operators; the `ops` crate re-exports them
//! under their usual names (`ops::add`, `x.add(y)`).
//!
//! # Operators return `Result`
//!
//! As in candle, `a + b` is a `Result`: a shape mismatch is an error that
//! names the op, the shapes and the line with the `+`, never a panic. A
//! `Result<Var>` may stand on either side of an operator whose other side is
//! a `Var`, so `a * b - c` needs one `?` at the end; Rust's orphan rule
//! forbids `Result<Var> + Result<Var>` and `Result<Var> + 2.0`, which take a
//! `?` in between: `((a * b)? + 1.0)?`.
//!
//! ```
//! use autograd::{Tape, Tensor};
//! let tape = Tape::<f64>::new();
//! let a = tape.param(Tensor::from_vec(vec![1.0, 2.0], &[2])?);
//! let b = tape.constant(Tensor::from_vec(vec![3.0, 4.0], &[2])?);
//! let y = (a * b - a)?; // one `?` for the whole expression
//! assert_eq!(y.value().data(), &[2.0, 6.0]);
//! let z = ((y + 1.0)? * 2.0 - (a / b)?)?; // a result next to a result or a scalar takes a `?`
//! assert_eq!(z.value().data(), &[6.0 - 1.0 / 3.0, 14.0 - 0.5]);
//! let neg = (-a)?;
//! assert_eq!(neg.value().data(), &[-1.0, -2.0]);
//! let half = (1.0 / b)?;
//! assert_eq!(half.value().data(), &[1.0 / 3.0, 0.25]);
//! // a shape error names the op, both shapes and this line
//! let c = tape.constant(Tensor::zeros(&[3]));
//! let e = (a + c).unwrap_err();
//! assert!(e.to_string().contains("add") && e.location().is_some());
//! # Ok::<(), autograd::Error>(())
//! ```
//!
//! On tensors (no tape), by reference or by value:
//!
//! ```
//! use autograd::Tensor;
//! let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
//! let b = Tensor::from_vec(vec![10.0f32, 20.0], &[2])?;
//! let c = ((&a + &b)? * 0.5)?; // a Result<Tensor> takes a &Tensor on its right
//! let d = ((&a + &b) - &a)?;
//! assert_eq!(d.data(), &[10.0, 20.0, 10.0, 20.0]);
//! assert_eq!(c.data(), &[5.5, 11.0, 6.5, 12.0]);
//! # Ok::<(), autograd::Error>(())
//! ```
//!
//! Scalars are `f64` (converted to the element type), as in `add_scalar`.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::{Element, Result, Tape, Tensor, Var};

pub mod add;
pub mod add_scalar;
pub mod div;
pub mod mul;
pub mod mul_scalar;
pub mod neg;
pub mod sub;

pub use add::add;
pub use add_scalar::add_scalar;
pub use div::div;
pub use mul::mul;
pub use mul_scalar::mul_scalar;
pub use neg::neg;
pub use sub::sub;

/// A scalar constant on `v`'s tape (for `s - v` and `s / v`).
fn scalar_like<'t, T: Element>(v: Var<'t, T>, s: f64) -> Var<'t, T> {
    let tape: &'t Tape<T> = v.tape();
    tape.constant(Tensor::scalar(T::from_f64(s)))
}

/// `Var op Var`, `Var op Result<Var>` and `Result<Var> op Var`, all
/// returning `Result<Var>`.
macro_rules! var_binary {
    ($trait:ident, $method:ident, $f:path) => {
        impl<'t, T: Element> $trait<Var<'t, T>> for Var<'t, T> {
            type Output = Result<Var<'t, T>>;
            #[track_caller]
            fn $method(self, rhs: Var<'t, T>) -> Self::Output {
                $f(self, rhs)
            }
        }
        impl<'t, T: Element> $trait<Result<Var<'t, T>>> for Var<'t, T> {
            type Output = Result<Var<'t, T>>;
            #[track_caller]
            fn $method(self, rhs: Result<Var<'t, T>>) -> Self::Output {
                $f(self, rhs?)
            }
        }
        impl<'t, T: Element> $trait<Var<'t, T>> for Result<Var<'t, T>> {
            type Output = Result<Var<'t, T>>;
            #[track_caller]
            fn $method(self, rhs: Var<'t, T>) -> Self::Output {
                $f(self?, rhs)
            }
        }
    };
}

var_binary!(Add, add, add::add);
var_binary!(Sub, sub, sub::sub);
var_binary!(Mul, mul, mul::mul);
var_binary!(Div, div, div::div);

/// `Var op f64` and `f64 op Var`, through `$var_scalar(v, s)` and
/// `$scalar_var(s, v)`.
macro_rules! var_scalar {
    ($trait:ident, $method:ident, $var_scalar:expr, $scalar_var:expr) => {
        impl<'t, T: Element> $trait<f64> for Var<'t, T> {
            type Output = Result<Var<'t, T>>;
            #[track_caller]
            fn $method(self, s: f64) -> Self::Output {
                $var_scalar(self, s)
            }
        }
        impl<'t, T: Element> $trait<Var<'t, T>> for f64 {
            type Output = Result<Var<'t, T>>;
            #[track_caller]
            fn $method(self, v: Var<'t, T>) -> Self::Output {
                $scalar_var(self, v)
            }
        }
    };
}

var_scalar!(Add, add, |v, s| add_scalar::add_scalar(v, s), |s, v| {
    add_scalar::add_scalar(v, s)
});
var_scalar!(
    Sub,
    sub,
    |v, s: f64| add_scalar::add_scalar(v, -s),
    |s, v| add::add(scalar_like(v, s), neg::neg(v)?)
);
var_scalar!(Mul, mul, |v, s| mul_scalar::mul_scalar(v, s), |s, v| {
    mul_scalar::mul_scalar(v, s)
});
var_scalar!(
    Div,
    div,
    |v, s: f64| mul_scalar::mul_scalar(v, 1.0 / s),
    |s, v| div::div(scalar_like(v, s), v)
);

impl<'t, T: Element> Neg for Var<'t, T> {
    type Output = Result<Var<'t, T>>;
    #[track_caller]
    fn neg(self) -> Self::Output {
        neg::neg(self)
    }
}

/// `Tensor op Tensor` for every mix of references and values, and with a
/// `Result<Tensor>` on the left, elementwise with broadcasting.
macro_rules! tensor_binary {
    ($trait:ident, $method:ident, $name:literal, $op:tt) => {
        impl<T: Element> $trait<&Tensor<T>> for &Tensor<T> {
            type Output = Result<Tensor<T>>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<T>) -> Self::Output {
                self.zip_broadcast(rhs, $name, |a, b| a $op b)
            }
        }
        impl<T: Element> $trait<Tensor<T>> for Tensor<T> {
            type Output = Result<Tensor<T>>;
            #[track_caller]
            fn $method(self, rhs: Tensor<T>) -> Self::Output {
                (&self).$method(&rhs)
            }
        }
        impl<T: Element> $trait<&Tensor<T>> for Tensor<T> {
            type Output = Result<Tensor<T>>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<T>) -> Self::Output {
                (&self).$method(rhs)
            }
        }
        impl<T: Element> $trait<Tensor<T>> for &Tensor<T> {
            type Output = Result<Tensor<T>>;
            #[track_caller]
            fn $method(self, rhs: Tensor<T>) -> Self::Output {
                self.$method(&rhs)
            }
        }
        impl<T: Element> $trait<&Tensor<T>> for Result<Tensor<T>> {
            type Output = Result<Tensor<T>>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<T>) -> Self::Output {
                (&self?).$method(rhs)
            }
        }
        impl<T: Element> $trait<f64> for &Tensor<T> {
            type Output = Result<Tensor<T>>;
            fn $method(self, s: f64) -> Self::Output {
                let s = T::from_f64(s);
                Ok(self.map(|a| a $op s))
            }
        }
        impl<T: Element> $trait<f64> for Tensor<T> {
            type Output = Result<Tensor<T>>;
            fn $method(self, s: f64) -> Self::Output {
                (&self).$method(s)
            }
        }
    };
}

tensor_binary!(Add, add, "add", +);
tensor_binary!(Sub, sub, "sub", -);
tensor_binary!(Mul, mul, "mul", *);
tensor_binary!(Div, div, "div", /);

impl<T: Element> Neg for &Tensor<T> {
    type Output = Tensor<T>;
    fn neg(self) -> Tensor<T> {
        self.map(|a| -a)
    }
}

impl<T: Element> Neg for Tensor<T> {
    type Output = Tensor<T>;
    fn neg(self) -> Tensor<T> {
        (&self).neg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_give_the_ops_values_and_gradients() -> Result<()> {
        let tape = Tape::<f64>::new();
        let a = tape.param(Tensor::from_vec(vec![1.0, -2.0], &[2]).unwrap());
        let b = tape.param(Tensor::from_vec(vec![4.0, 0.5], &[2]).unwrap());
        // y = sum((a - b) * a / b + 3 - 2 a) written with operators
        let y = (((a - b) * a / b)? + 3.0 - (2.0 * a)?)?;
        let l = tape.constant(Tensor::ones(&[2]));
        let loss = (y * l).unwrap();
        let grads = tape.backward_with(loss, Tensor::ones(&[2])).unwrap();
        let (av, bv) = ([1.0, -2.0], [4.0, 0.5]);
        for i in 0..2 {
            let (x, z) = (av[i], bv[i]);
            let want = (x - z) * x / z + 3.0 - 2.0 * x;
            assert!((y.value().data()[i] - want).abs() < 1e-12);
            // d/da = (2a - b) / b - 2, d/db = -a^2 / b^2
            let ga = grads.wrt(a).unwrap().data()[i];
            let gb = grads.wrt(b).unwrap().data()[i];
            assert!((ga - ((2.0 * x - z) / z - 2.0)).abs() < 1e-12);
            assert!((gb - (-x * x / (z * z))).abs() < 1e-12);
        }
        // scalar on the left
        let r = (10.0 - a).unwrap();
        assert_eq!(r.value().data(), &[9.0, 12.0]);
        let q = (1.0 / b).unwrap();
        assert_eq!(q.value().data(), &[0.25, 2.0]);
        Ok(())
    }

    #[test]
    fn an_operator_error_points_at_the_operator_line() {
        let tape = Tape::<f32>::new();
        let a = tape.constant(Tensor::zeros(&[2, 3]));
        let b = tape.constant(Tensor::zeros(&[4]));
        let line = line!() + 1;
        let e = (a * b).unwrap_err();
        assert_eq!(e.location().unwrap().line(), line, "{e}");
        assert!(
            e.to_string().contains("[2, 3]") && e.to_string().contains("[4]"),
            "{e}"
        );
        // an error on the left of a chain is passed on, not replaced
        let line = line!() + 1;
        let e = ((a * b) + a).unwrap_err();
        assert_eq!(e.location().unwrap().line(), line);
        let t = Tensor::<f32>::zeros(&[2]);
        let line = line!() + 1;
        let e = (&t + &Tensor::zeros(&[3])).unwrap_err();
        assert_eq!(e.location().unwrap().line(), line, "{e}");
    }
}
