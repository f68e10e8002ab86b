//! The synthetic contacts workload: N records, deterministic from a seed, and the 1%-changed
//! revisions the incremental benchmark applies.
//!
//! Record `i` (0-based, id `i + 1`) depends only on `(seed, i)` and the revisions at which it
//! changed, so any subset can be regenerated without the others. Revision 1 is the initial data;
//! at each revision `r >= 2` about `changed_pct` % of the records change (`lead_status`,
//! `lead_score` and `updated_at`), with `updated_at` later than every earlier revision's.

use crate::model::BenchContact;
use crate::timestamp;

/// `2023-01-01T00:00:00Z`: contact `i` is created `13 * i` seconds after it.
pub const BASE_EPOCH: i64 = 1_672_531_200;
const DAY: i64 = 86_400;

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Amara",
    "Kenji",
    "Lukas",
    "Sofia",
    "Mateo",
    "Aisha",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Okafor",
    "Tanaka",
    "Schneider",
    "Rossi",
    "Novak",
];
const COMPANY: &[&str] = &[
    "Acme Corp",
    "Globex Corporation",
    "Initech",
    "Umbrella Holdings",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Wonka Industries",
    "Tyrell Corp",
    "Cyberdyne Systems",
    "Soylent Co",
    "Vandelay Industries",
    "Massive Dynamic",
    "Aperture Science",
    "Black Mesa Research",
];
const TITLE: &[&str] = &[
    "Software Engineer",
    "Account Executive",
    "VP of Sales",
    "Marketing Manager",
    "CTO",
    "Head of Operations",
    "Product Manager",
    "Data Analyst",
    "Customer Success Lead",
    "CFO",
];
const CITY: &[(&str, &str, &str)] = &[
    ("Berlin", "BE", "DE"),
    ("Austin", "TX", "US"),
    ("Toronto", "ON", "CA"),
    ("Lyon", "ARA", "FR"),
    ("Osaka", "27", "JP"),
    ("Leeds", "ENG", "GB"),
    ("Porto", "13", "PT"),
    ("Denver", "CO", "US"),
];
const STREET: &[&str] = &[
    "Main St",
    "Oak Avenue",
    "Maple Road",
    "Hauptstrasse",
    "Rue de la Paix",
    "King St W",
];
const STAGE: &[&str] = &[
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
];
const STATUS: &[&str] = &[
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "CONNECTED",
];
const SOURCE: &[&str] = &[
    "ORGANIC_SEARCH",
    "PAID_SEARCH",
    "EMAIL_MARKETING",
    "SOCIAL_MEDIA",
    "REFERRALS",
    "DIRECT_TRAFFIC",
];
const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
];

/// SplitMix64: a tiny, fast, well-mixed generator; enough for synthetic data.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in `lo..hi` (the bias of a modulo over 64 bits is negligible here).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The workload: `n` contacts from `seed`, at `revision` with `changed_pct` % changed per
/// revision after the first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Workload {
    n: u64,
    seed: u64,
    revision: u32,
    /// Changed share per revision in basis points (1 % = 100).
    changed_bp: u64,
}

impl Workload {
    /// Revision 1 of `n` contacts from `seed`.
    pub fn new(n: u64, seed: u64) -> Self {
        Self {
            n,
            seed,
            revision: 1,
            changed_bp: 0,
        }
    }

    /// The same contacts at `revision`, `changed_pct` % of them changed at each revision from 2
    /// on (so revision 2 has about `changed_pct` % changed since revision 1).
    pub fn at_revision(self, revision: u32, changed_pct: f64) -> Self {
        Self {
            revision: revision.max(1),
            changed_bp: (changed_pct.clamp(0.0, 100.0) * 100.0).round() as u64,
            ..self
        }
    }

    /// Number of contacts.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether there are no contacts.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The revision.
    pub fn revision(&self) -> u32 {
        self.revision
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The same workload one revision earlier (revision 1 stays 1).
    pub fn previous(&self) -> Self {
        Self {
            revision: self.revision.saturating_sub(1).max(1),
            ..*self
        }
    }

    fn changes_at(&self, i: u64, revision: u32) -> bool {
        revision >= 2
            && mix(self.seed ^ mix(i.wrapping_add(1) ^ (u64::from(revision) << 40))) % 10_000
                < self.changed_bp
    }

    /// The last revision at which contact `i` changed (1 = never changed).
    pub fn last_change(&self, i: u64) -> u32 {
        (2..=self.revision)
            .rev()
            .find(|&r| self.changes_at(i, r))
            .unwrap_or(1)
    }

    /// How many contacts changed at exactly this revision.
    pub fn changed_at_this_revision(&self) -> u64 {
        (0..self.n)
            .filter(|&i| self.changes_at(i, self.revision))
            .count() as u64
    }

    fn change_time(&self, revision: u32) -> i64 {
        // Later than every revision-1 `updated_at` (at most 13 (n-1) s + 90 days after BASE).
        BASE_EPOCH + 13 * self.n as i64 + 91 * DAY + i64::from(revision - 2) * DAY
    }

    /// `updated_at` of contact `i` as Unix seconds, without building the record.
    pub fn updated_at(&self, i: u64) -> i64 {
        match self.last_change(i) {
            1 => self.base_updated_at(i, &mut self.rng(i)),
            r => self.change_time(r) + (i % 3600) as i64,
        }
    }

    fn rng(&self, i: u64) -> Rng {
        Rng(mix(self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ i))
    }

    fn base_updated_at(&self, i: u64, rng: &mut Rng) -> i64 {
        // The first draw of a record's generator is its updated_at offset.
        BASE_EPOCH + 13 * i as i64 + rng.range(0, 90 * DAY)
    }

    /// Contact `i` (0-based; its id is `i + 1`).
    pub fn contact(&self, i: u64) -> BenchContact {
        let mut rng = self.rng(i);
        let created = BASE_EPOCH + 13 * i as i64;
        let base_updated = self.base_updated_at(i, &mut rng);
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let company = rng.pick(COMPANY);
        let (city, state, country) = rng.pick(CITY);
        let domain = format!(
            "{}.example.com",
            company.split(' ').next().unwrap_or(company).to_lowercase()
        );
        let notes: Vec<&str> = (0..18).map(|_| rng.pick(WORDS)).collect();
        let mut contact = BenchContact {
            id: (i + 1).to_string(),
            email: format!(
                "{}.{}{i}@{domain}",
                first.to_lowercase(),
                last.to_lowercase()
            ),
            first_name: first.into(),
            last_name: last.into(),
            company: company.into(),
            job_title: rng.pick(TITLE).into(),
            phone: format!("+1-555-{}", rng.range(1_000_000, 9_999_999)),
            mobile_phone: format!("+49-151-{}", rng.range(10_000_000, 99_999_999)),
            street: format!("{} {}", rng.range(1, 999), rng.pick(STREET)),
            city: city.into(),
            state: state.into(),
            postal_code: rng.range(10_000, 99_999).to_string(),
            country: country.into(),
            website: format!("https://www.{domain}"),
            lifecycle_stage: rng.pick(STAGE).into(),
            lead_status: rng.pick(STATUS).into(),
            original_source: rng.pick(SOURCE).into(),
            owner_id: rng.range(100_000, 999_999),
            lead_score: rng.range(0, 100),
            annual_revenue: ((rng.unit() * (5e7 - 1e4) + 1e4) * 100.0).round() / 100.0,
            num_employees: rng.range(1, 50_000),
            is_subscribed: rng.unit() < 0.5,
            notes: notes.join(" "),
            created_at: timestamp::format(created),
            updated_at: timestamp::format(base_updated),
        };
        let revision = self.last_change(i);
        if revision >= 2 {
            let mut change = Rng(mix(self.seed ^ i ^ (u64::from(revision) << 48)));
            contact.lead_status = change.pick(STATUS).into();
            contact.lead_score = change.range(0, 100);
            contact.updated_at = timestamp::format(self.change_time(revision) + (i % 3600) as i64);
        }
        contact
    }

    /// Contact `i` as compact JSON.
    pub fn contact_json(&self, i: u64) -> Vec<u8> {
        serde_json::to_vec(&self.contact(i)).expect("a contact always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_deterministic_and_shaped_like_the_reference_workload() {
        let w = Workload::new(10_000, 42);
        let again = Workload::new(10_000, 42);
        let mut bytes = 0;
        for i in 0..w.len() {
            let json = w.contact_json(i);
            assert_eq!(
                json,
                again.contact_json(i),
                "contact {i} differs between two generations"
            );
            let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
            let object = value.as_object().unwrap();
            assert_eq!(object.len(), 25, "contact {i} has {} fields", object.len());
            assert_eq!(value["id"], (i + 1).to_string());
            assert_eq!(
                timestamp::parse(value["updated_at"].as_str().unwrap()),
                Ok(w.updated_at(i)),
                "updated_at of contact {i} differs from Workload::updated_at"
            );
            bytes += json.len();
        }
        let average = bytes as f64 / w.len() as f64;
        assert!(
            (650.0..850.0).contains(&average),
            "average contact is {average:.0} bytes, expected about 750"
        );
        assert_ne!(
            Workload::new(10, 43).contact_json(3),
            w.contact_json(3),
            "another seed must give other contacts"
        );
    }

    #[test]
    fn a_revision_changes_about_the_requested_share_and_only_moves_updated_at_forward() {
        let base = Workload::new(100_000, 42);
        let next = base.at_revision(2, 1.0);
        let max_before = (0..base.len()).map(|i| base.updated_at(i)).max().unwrap();
        let changed: Vec<u64> = (0..base.len())
            .filter(|&i| base.contact(i) != next.contact(i))
            .collect();
        assert!(
            (800..1200).contains(&changed.len()),
            "{} contacts changed at 1 % of 100000",
            changed.len()
        );
        assert_eq!(changed.len() as u64, next.changed_at_this_revision());
        for &i in &changed {
            assert!(
                next.updated_at(i) > max_before,
                "changed contact {i} is not newer than every revision-1 contact"
            );
        }
    }
}
