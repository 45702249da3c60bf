//! The metrics that `logtally run` exports: the rule metrics and logtally's own, copied under
//! the store lock for a scrape or a remote-write snapshot alike.

use std::sync::Arc;
use std::time::Duration;

use crate::exposition::{self, Format};
use crate::live::Live;
use crate::metrics::now_ms;
use crate::process::{self, ProcessStats};
use crate::remote_write::{self, FamilyVisitor, StatsHandle};
use crate::self_metrics::{self, ReloadStatus};
use crate::tail::TailStats;

/// The sources of every exported metric.
pub struct Exported {
    pub live: Arc<Live>,
    pub tail: TailStats,
    /// `--metrics.expire`: idle time after which a labelled series is removed.
    pub default_expire: Option<Duration>,
    /// The counts of remote write, when it is on.
    pub remote_write: Option<StatsHandle>,
}

impl Exported {
    /// Calls `visit` with every family, as of one moment. Series idle past their expiry time
    /// are removed first.
    pub fn visit(&self, visit: &mut FamilyVisitor<'_>) {
        let files = self.tail.lock().clone();
        let process = ProcessStats::read();
        let reload = ReloadStatus {
            ok: self.live.last_reload_ok(),
            last_success_ms: self.live.last_success_ms(),
        };
        let remote_write = self.remote_write.as_ref().map(StatsHandle::read);

        // Copy the series and release the lock before encoding, so that a scrape or a push of
        // many series holds up the reading of logs only for the copy.
        let (rules, series, mut own) = {
            let mut current = self.live.lock();
            let rules = current.rules.clone();
            current.store.expire(&rules, now_ms(), self.default_expire);
            let open_files = self.tail.open_files();
            let own = self_metrics::families(&rules, &current.store, &files, open_files, reload);
            (rules, current.store.families.clone(), own)
        };
        if let Some(destinations) = remote_write {
            own.extend(self_metrics::remote_write(&destinations));
        }
        own.push(process::build_info());
        own.extend(process.map(|stats| stats.families()).unwrap_or_default());
        let mut families: Vec<_> = rules.families.iter().zip(&series).collect();
        families.extend(own.iter().map(|(definition, series)| (definition, series)));
        visit(&mut families);
    }

    /// Encodes every family in `format`.
    pub fn scrape(&self, format: Format) -> Vec<u8> {
        let mut body = Vec::new();
        self.visit(&mut |families| body = exposition::encode_bytes(families, format));
        body
    }
}

impl remote_write::Source for Exported {
    fn visit_families(&self, visit: &mut FamilyVisitor<'_>) {
        self.visit(visit);
    }

    fn ready(&self) -> bool {
        self.tail.caught_up()
    }
}
