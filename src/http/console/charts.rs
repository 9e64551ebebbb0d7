//! The overview's charts: small bar charts drawn here as inline SVG from the throughput
//! history (`metrics_history`), no script and nothing loaded from elsewhere. Only numbers
//! and this module's own labels reach the markup.

use crate::store::HistoryPoint;

/// One series of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    WebhooksIn,
    Delivered,
    Sends,
    Failures,
    DeadLetters,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::WebhooksIn,
        Metric::Delivered,
        Metric::Sends,
        Metric::Failures,
        Metric::DeadLetters,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Metric::WebhooksIn => "Webhooks in",
            Metric::Delivered => "Events delivered",
            Metric::Sends => "Messages sent",
            Metric::Failures => "Failures",
            Metric::DeadLetters => "Dead letters",
        }
    }

    /// The CSS class of its bars.
    pub fn class(self) -> &'static str {
        match self {
            Metric::WebhooksIn => "s-in",
            Metric::Delivered => "s-ok",
            Metric::Sends => "s-send",
            Metric::Failures => "s-fail",
            Metric::DeadLetters => "s-dead",
        }
    }

    fn of(self, p: &HistoryPoint) -> i64 {
        match self {
            Metric::WebhooksIn => p.webhooks_in,
            Metric::Delivered => p.delivered,
            Metric::Sends => p.sends,
            Metric::Failures => p.failures,
            Metric::DeadLetters => p.dead_letters,
        }
    }
}

/// A window of the history cut into equal buckets.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// "last hour", "last day".
    pub label: &'static str,
    pub buckets: usize,
    pub bucket_ms: i64,
}

pub const HOUR: Window = Window {
    label: "last hour",
    buckets: 60,
    bucket_ms: 60_000,
};
pub const DAY: Window = Window {
    label: "last 24 hours",
    buckets: 48,
    bucket_ms: 30 * 60_000,
};

/// The values of `metric` in each bucket of `window` ending at `now` (oldest first).
pub fn buckets(points: &[HistoryPoint], metric: Metric, window: Window, now: i64) -> Vec<i64> {
    let span = window.bucket_ms * window.buckets as i64;
    // Buckets end at the end of the current minute, so the last one holds "now".
    let end = now - now.rem_euclid(60_000) + 60_000;
    let start = end - span;
    let mut out = vec![0i64; window.buckets];
    for p in points {
        if p.minute < start || p.minute >= end {
            continue;
        }
        let i = usize::try_from((p.minute - start) / window.bucket_ms).unwrap_or(0);
        if let Some(slot) = out.get_mut(i) {
            *slot += metric.of(p).max(0);
        }
    }
    out
}

const WIDTH: i64 = 240;
const HEIGHT: i64 = 56;
const PLOT_TOP: i64 = 10;
const PLOT_BOTTOM: i64 = 44;

/// A bar chart of `values` (oldest first) as an `<svg>` element with a text alternative.
pub fn bar_chart(metric: Metric, window: Window, values: &[i64]) -> String {
    let total: i64 = values.iter().sum();
    let max = values.iter().copied().max().unwrap_or(0);
    let n = values.len().max(1) as i64;
    let plot_h = PLOT_BOTTOM - PLOT_TOP;
    let per = window.bucket_ms / 60_000;
    let unit = if per == 1 {
        "a minute".to_string()
    } else {
        format!("in {per} minutes")
    };
    let label = format!(
        "{}, {}: {total} in all, at most {max} {unit}",
        metric.label(),
        window.label
    );
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{label}\" \
         preserveAspectRatio=\"none\" focusable=\"false\"><title>{label}</title>"
    );
    svg.push_str(&format!(
        "<line class=\"axis\" x1=\"0\" y1=\"{PLOT_BOTTOM}\" x2=\"{WIDTH}\" y2=\"{PLOT_BOTTOM}\"/>"
    ));
    if max > 0 {
        for (i, v) in values.iter().enumerate() {
            if *v <= 0 {
                continue;
            }
            let i = i as i64;
            let x0 = i * WIDTH / n;
            let x1 = (i + 1) * WIDTH / n;
            let w = (x1 - x0 - 1).max(1);
            // At least a pixel for any non-zero bucket.
            let h = (v * plot_h / max).max(1);
            svg.push_str(&format!(
                "<rect class=\"{}\" x=\"{x0}\" y=\"{}\" width=\"{w}\" height=\"{h}\"/>",
                metric.class(),
                PLOT_BOTTOM - h
            ));
        }
    }
    let left = if window.buckets as i64 * per >= 120 {
        format!("−{} h", window.buckets as i64 * per / 60)
    } else {
        format!("−{} min", window.buckets as i64 * per)
    };
    svg.push_str(&format!(
        "<text class=\"tick\" x=\"0\" y=\"{HEIGHT}\">{left}</text>\
         <text class=\"tick\" x=\"{WIDTH}\" y=\"{HEIGHT}\" text-anchor=\"end\">now</text>\
         <text class=\"tick\" x=\"2\" y=\"{}\">max {max}</text></svg>",
        PLOT_TOP - 2
    ));
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(minute: i64, webhooks_in: i64) -> HistoryPoint {
        HistoryPoint {
            minute,
            webhooks_in,
            ..HistoryPoint::default()
        }
    }

    #[test]
    fn points_fall_in_their_bucket_and_old_ones_are_left_out() {
        let now = 10 * 3_600_000 + 30_000; // half a minute into 10:00
        let pts = [
            point(10 * 3_600_000, 5),               // this minute: the last bucket
            point(10 * 3_600_000 - 60_000, 2),      // the one before
            point(10 * 3_600_000 - 3_600_000, 99),  // 60 minutes ago: outside the hour
            point(10 * 3_600_000 - 59 * 60_000, 7), // the first bucket
        ];
        let b = buckets(&pts, Metric::WebhooksIn, HOUR, now);
        assert_eq!(b.len(), 60);
        assert_eq!(b[59], 5);
        assert_eq!(b[58], 2);
        assert_eq!(b[0], 7);
        assert_eq!(b.iter().sum::<i64>(), 14);
        let d = buckets(&pts, Metric::WebhooksIn, DAY, now);
        assert_eq!(d.iter().sum::<i64>(), 113);
        assert_eq!(d[47], 5 + 2);
    }

    #[test]
    fn a_chart_is_svg_with_its_numbers_in_words() {
        let mut v = vec![0; 60];
        v[10] = 4;
        v[59] = 8;
        let svg = bar_chart(Metric::Failures, HOUR, &v);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(svg.contains("aria-label=\"Failures, last hour: 12 in all, at most 8 a minute\""));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(
            svg.contains("height=\"34\""),
            "the largest bar fills the plot: {svg}"
        );
        let empty = bar_chart(Metric::Sends, DAY, &[0; 48]);
        assert_eq!(empty.matches("<rect").count(), 0);
        assert!(empty.contains("at most 0 in 30 minutes"));
        assert!(empty.contains("−24 h"));
    }
}
