//! The mutations the loopback fakes ([`crate::fake_crm`], and `testing::FakeProvider`) apply
//! between runs: every change advances one logical clock, so each changed item gets a newer
//! `updated_at` than anything served before.

use std::collections::BTreeMap;

/// An item of a fake dataset that has a revision, a change time and an archived flag.
pub(crate) trait Versioned {
    /// Its content changed at logical time `clock`.
    fn revise(&mut self, clock: u64);
    /// It was archived at logical time `clock`.
    fn archive(&mut self, clock: u64);
}

/// Revise the items `ids` (unknown ids are ignored), one clock tick each.
pub(crate) fn revise<T: Versioned>(items: &mut BTreeMap<u64, T>, clock: &mut u64, ids: &[u64]) {
    for id in ids {
        *clock += 1;
        if let Some(item) = items.get_mut(id) {
            item.revise(*clock);
        }
    }
}

/// Archive the items `ids` (unknown ids are ignored), one clock tick each.
pub(crate) fn archive<T: Versioned>(items: &mut BTreeMap<u64, T>, clock: &mut u64, ids: &[u64]) {
    for id in ids {
        *clock += 1;
        if let Some(item) = items.get_mut(id) {
            item.archive(*clock);
        }
    }
}
