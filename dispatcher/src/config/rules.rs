//! The resolver's generic rules: picking one value by precedence, layering
//! a per-backend override over a global one, and the checks every kind of
//! value shares (ranges, allowed sets, percentages, secrets, readable
//! files), each of which records an error that points at where the value
//! came from and hands back a usable value, so that resolution goes on and
//! reports every problem at once.

use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::file::{Field, FromFile};
use super::resolve::{At, Resolver, Val};
use super::secure::MAKE_SECRET;
use super::*;

// === impl Resolver ===

impl Resolver<'_> {
    /// A repeatable setting: its flags (or variable) if any, else the
    /// file's list `key`, each item parsed by `parse` and reported, by
    /// index, when it does not.
    pub(super) fn list<T: Clone>(
        &self,
        key: &str,
        args: &[T],
        file: &Option<Vec<Spanned<String>>>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Vec<T> {
        if !args.is_empty() {
            return args.to_vec();
        }
        let listed = file.iter().flatten().enumerate();
        listed
            .filter_map(|(i, item)| {
                let val = Val::new(format!("{key}[{i}]"), (), self.at(item));
                parse(item.get_ref())
                    .map_err(|reason| self.fail(&val, reason))
                    .ok()
            })
            .collect()
    }

    /// The flag (or env) value, else the file's, else `default`.
    pub(super) fn pick<T: FromFile>(
        &self,
        key: &str,
        arg: Option<T>,
        file: &Field<T::Raw>,
        default: T,
    ) -> Val<T> {
        self.layer(key, arg, file, Val::new(key, default, At::Default))
    }

    /// The flag (or env) value, else the file's, else `fallback`. A file
    /// value that does not parse is reported and `fallback` used instead.
    pub(super) fn layer<T: FromFile>(
        &self,
        key: &str,
        arg: Option<T>,
        file: &Field<T::Raw>,
        fallback: Val<T>,
    ) -> Val<T> {
        if let Some(value) = arg {
            return Val::new(key, value, At::Arg);
        }
        let Some(spanned) = file else { return fallback };
        let at = self.at(spanned);
        match T::from_file(spanned.get_ref()) {
            Ok(value) => Val::new(key, value, at),
            Err(reason) => {
                self.fail(&Val::new(key, (), at), reason);
                fallback
            }
        }
    }

    /// The origin of a file value.
    pub(super) fn at<T>(&self, spanned: &Spanned<T>) -> At {
        At::File {
            line: self.file.source.line(spanned.span().start),
        }
    }

    /// Reports `reason` against `val`.
    pub(super) fn fail<T>(&self, val: &Val<T>, reason: impl Into<String>) {
        let key = val.key.clone();
        let at = match val.at {
            At::Arg => Location::Arg { key },
            At::File { line } => Location::File {
                path: self.file.source.path.clone(),
                line,
                key,
            },
            At::Default => Location::Default { key },
        };
        let reason = reason.into();
        self.errors
            .borrow_mut()
            .push(ConfigError::Invalid { at, reason });
    }

    /// Reports `reason()` against `val` unless `ok`; returns `ok`.
    pub(super) fn require<T>(
        &self,
        val: &Val<T>,
        ok: bool,
        reason: impl FnOnce() -> String,
    ) -> bool {
        if !ok {
            self.fail(val, reason());
        }
        ok
    }

    /// Reports a broken rule between `a` and `b` against the one set more
    /// specifically (`a` on a tie): that is the value to change.
    pub(super) fn relate<A, B>(
        &self,
        (a, b): (&Val<A>, &Val<B>),
        ok: bool,
        reason: impl FnOnce() -> String,
    ) {
        let blamed = if b.rank() > a.rank() { &b.key } else { &a.key };
        let at = if b.rank() > a.rank() { b.at } else { a.at };
        self.require(&Val::new(blamed.clone(), (), at), ok, reason);
    }

    /// Checks that a duration is not zero.
    pub(super) fn nonzero(&self, val: Val<Duration>) -> Val<Duration> {
        self.require(&val, !val.value.is_zero(), || {
            "must be greater than 0".to_owned()
        });
        val
    }

    pub(super) fn within(&self, val: Val<usize>, range: RangeInclusive<usize>) -> usize {
        let (lo, hi) = range.clone().into_inner();
        self.require(&val, range.contains(&val.value), || {
            format!("must be between {lo} and {hi}, got {}", val.value)
        });
        val.value
    }

    pub(super) fn one_of(&self, val: Val<u16>, allowed: &[u16]) -> u16 {
        let list = allowed
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        self.require(&val, allowed.contains(&val.value), || {
            format!("must be one of {list}, got {}", val.value)
        });
        val.value
    }

    pub(super) fn percent(&self, val: Val<f64>) -> f64 {
        let ok = val.value > 0.0 && val.value <= 100.0;
        self.require(&val, ok, || {
            format!("must be greater than 0 and at most 100, got {}", val.value)
        });
        val.value
    }

    /// A secret that, when set, is at least `min_len` bytes long and not
    /// a placeholder.
    pub(super) fn secret(&self, val: Val<Option<String>>, min_len: usize) -> Option<String> {
        let len = val.value.as_ref().map_or(min_len, String::len);
        let reason = match min_len {
            1 => "must not be empty".to_owned(),
            n => {
                format!("must be at least {n} bytes long, got {len}: make one with `{MAKE_SECRET}`")
            }
        };
        if self.require(&val, len >= min_len, || reason) {
            self.not_placeholder(&val);
        }
        val.value
    }

    /// Whether the file at `path` can be opened for reading.
    pub(super) fn readable<T>(&self, val: &Val<T>, path: &Path) -> bool {
        match std::fs::File::open(path) {
            Ok(_) => true,
            Err(e) => {
                self.fail(val, format!("cannot read {}: {e}", path.display()));
                false
            }
        }
    }
}
