//! Prometheus's text exposition format (version 0.0.4), written by hand: a family's HELP and
//! TYPE lines, then its samples with escaped label values. Pure: it knows no metric.

use std::fmt::Write;

/// Every metric name starts with this.
pub(super) const PREFIX: &str = "atuin_bootstrap_";

/// The kind of a metric family.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// The text being written.
#[derive(Default)]
pub(super) struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts the family `name` (without the prefix).
    pub(super) fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {PREFIX}{name} {help}");
        let _ = writeln!(self.out, "# TYPE {PREFIX}{name} {}", kind.as_str());
    }

    /// One sample of `name` (without the prefix; a histogram's `_bucket`, `_sum` and
    /// `_count` suffixes are part of it).
    pub(super) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Number>) {
        self.out.push_str(PREFIX);
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (index, (label, text)) in labels.iter().enumerate() {
                if index > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape_label_value(&mut self.out, text);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", value.into());
    }

    pub(super) fn finish(self) -> String {
        self.out
    }
}

/// A sample's value: whole numbers print without a fraction.
pub(super) enum Number {
    Whole(u64),
    Real(f64),
}

impl From<u64> for Number {
    fn from(n: u64) -> Number {
        Number::Whole(n)
    }
}

impl From<f64> for Number {
    fn from(n: f64) -> Number {
        Number::Real(n)
    }
}

impl From<bool> for Number {
    fn from(b: bool) -> Number {
        Number::Whole(u64::from(b))
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Whole(n) => write!(f, "{n}"),
            Number::Real(x) if x.is_nan() => f.write_str("NaN"),
            Number::Real(x) if x.is_infinite() && *x > 0.0 => f.write_str("+Inf"),
            Number::Real(x) if x.is_infinite() => f.write_str("-Inf"),
            Number::Real(x) => write!(f, "{x}"),
        }
    }
}

/// Backslash, double quote and line feed are escaped in label values.
fn escape_label_value(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_samples_are_written_as_prometheus_reads_them() {
        let mut text = Exposition::default();
        text.family("things_total", Kind::Counter, "Things seen.");
        text.sample("things_total", &[("kind", "a\"b\\c\nd")], 3u64);
        text.sample("things_total", &[], 1.5f64);
        text.sample("things_total", &[("le", "+Inf"), ("x", "y")], true);
        assert_eq!(
            text.finish(),
            "# HELP atuin_bootstrap_things_total Things seen.\n\
             # TYPE atuin_bootstrap_things_total counter\n\
             atuin_bootstrap_things_total{kind=\"a\\\"b\\\\c\\nd\"} 3\n\
             atuin_bootstrap_things_total 1.5\n\
             atuin_bootstrap_things_total{le=\"+Inf\",x=\"y\"} 1\n"
        );
    }
}
