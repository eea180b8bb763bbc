//! Login throttling: after a few wrong passwords, an account (by email) and a client address
//! each must wait before the next password check, the wait doubling with every further failure
//! up to a cap. Refused attempts (429) are not checked and do not lengthen the wait, so a
//! flood cannot push the real user's next chance further away: once `Retry-After` has passed,
//! the right password logs in. An address that logged in to an account before skips that
//! account's wait (not its own), so an attacker elsewhere cannot keep the owner out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The throttle's limits; [`LoginThrottleSettings::default`] documents the defaults.
#[derive(Debug, Clone)]
pub struct LoginThrottleSettings {
    /// Wrong passwords an account may have before it must wait. Default 5.
    pub free_failures_per_account: u32,
    /// Wrong passwords (over any accounts) an address may have before it must wait. Default 20.
    pub free_failures_per_address: u32,
    /// The first wait; each further failure doubles it. Default 1 s.
    pub first_delay: Duration,
    /// The longest wait after the last wrong password. Default 30 s.
    pub max_delay: Duration,
    /// Failures older than this are forgotten. Default 15 minutes.
    pub forget_after: Duration,
    /// How long an address that logged in skips its account's wait. Default 30 days.
    pub remember_addresses: Duration,
    /// Entries kept per table (accounts, addresses, known addresses); the oldest go first when
    /// full, so memory stays bounded whatever a flood sends. Default 100,000.
    pub max_tracked: usize,
}

impl Default for LoginThrottleSettings {
    fn default() -> Self {
        LoginThrottleSettings {
            free_failures_per_account: 5,
            free_failures_per_address: 20,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            forget_after: Duration::from_secs(15 * 60),
            remember_addresses: Duration::from_secs(30 * 24 * 3600),
            max_tracked: 100_000,
        }
    }
}

/// Why an attempt must wait: the label of `bytefreezer_control_logins_throttled_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThrottleCause {
    Account,
    Address,
}

impl ThrottleCause {
    pub(crate) fn label(self) -> &'static str {
        match self {
            ThrottleCause::Account => "account",
            ThrottleCause::Address => "address",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

#[derive(Default)]
struct Tables {
    accounts: HashMap<String, Failures>,
    addresses: HashMap<IpAddr, Failures>,
    known: HashMap<(String, IpAddr), Instant>,
}

pub(crate) struct LoginThrottle {
    settings: LoginThrottleSettings,
    tables: Mutex<Tables>,
}

impl LoginThrottle {
    pub(crate) fn new(settings: LoginThrottleSettings) -> LoginThrottle {
        LoginThrottle {
            settings,
            tables: Mutex::default(),
        }
    }

    fn wait(&self, failures: Option<&Failures>, free: u32, now: Instant) -> Duration {
        let Some(failures) = failures else {
            return Duration::ZERO;
        };
        if failures.count < free || now.duration_since(failures.last) >= self.settings.forget_after
        {
            return Duration::ZERO;
        }
        let doublings = (failures.count - free).min(20);
        let delay = self
            .settings
            .first_delay
            .saturating_mul(1 << doublings)
            .min(self.settings.max_delay);
        (failures.last + delay).saturating_duration_since(now)
    }

    /// Before a password check: `Err` with how long to wait, or `Ok` after counting the attempt
    /// as a failure in advance (so concurrent attempts cannot all slip past the limit);
    /// [`LoginThrottle::succeeded`] takes it back.
    pub(crate) fn begin(
        &self,
        email: &str,
        address: IpAddr,
        now: Instant,
    ) -> Result<(), (Duration, ThrottleCause)> {
        let email = email.to_lowercase();
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let known = tables
            .known
            .get(&(email.clone(), address))
            .is_some_and(|at| now.duration_since(*at) < self.settings.remember_addresses);
        let address_wait = self.wait(
            tables.addresses.get(&address),
            self.settings.free_failures_per_address,
            now,
        );
        if !address_wait.is_zero() {
            return Err((address_wait, ThrottleCause::Address));
        }
        if !known {
            let account_wait = self.wait(
                tables.accounts.get(&email),
                self.settings.free_failures_per_account,
                now,
            );
            if !account_wait.is_zero() {
                return Err((account_wait, ThrottleCause::Account));
            }
        }
        let settings = &self.settings;
        count_failure(&mut tables.addresses, address, now, settings);
        if !known {
            count_failure(&mut tables.accounts, email, now, settings);
        }
        Ok(())
    }

    /// The attempt was refused before any password was compared (an invalid new password):
    /// it does not count.
    pub(crate) fn cancel(&self, email: &str, address: IpAddr) {
        let email = email.to_lowercase();
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(failures) = tables.accounts.get_mut(&email) {
            failures.count = failures.count.saturating_sub(1);
        }
        if let Some(failures) = tables.addresses.get_mut(&address) {
            failures.count = failures.count.saturating_sub(1);
        }
    }

    /// The password was right: the account's failures are cleared, this address's attempt
    /// is taken back, and the address is remembered for the account.
    pub(crate) fn succeeded(&self, email: &str, address: IpAddr, now: Instant) {
        let email = email.to_lowercase();
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        tables.accounts.remove(&email);
        if let Some(failures) = tables.addresses.get_mut(&address) {
            failures.count = failures.count.saturating_sub(1);
        }
        let max = self.settings.max_tracked;
        if tables.known.len() >= max {
            let remember = self.settings.remember_addresses;
            tables
                .known
                .retain(|_, at| now.duration_since(*at) < remember);
            evict_oldest(&mut tables.known, max, |at| *at);
        }
        tables.known.insert((email, address), now);
    }
}

fn count_failure<K: std::hash::Hash + Eq + Clone>(
    table: &mut HashMap<K, Failures>,
    key: K,
    now: Instant,
    settings: &LoginThrottleSettings,
) {
    if !table.contains_key(&key) && table.len() >= settings.max_tracked {
        table.retain(|_, failures| now.duration_since(failures.last) < settings.forget_after);
        evict_oldest(table, settings.max_tracked, |failures| failures.last);
    }
    let entry = table.entry(key).or_insert(Failures {
        count: 0,
        last: now,
    });
    if now.duration_since(entry.last) >= settings.forget_after {
        entry.count = 0;
    }
    entry.count = entry.count.saturating_add(1);
    entry.last = now;
}

/// Makes room for one entry by dropping the oldest, when the table is still full.
fn evict_oldest<K: std::hash::Hash + Eq + Clone, V>(
    table: &mut HashMap<K, V>,
    max: usize,
    time: impl Fn(&V) -> Instant,
) {
    if table.len() < max {
        return;
    }
    if let Some(oldest) = table
        .iter()
        .min_by_key(|(_, value)| time(value))
        .map(|(key, _)| key.clone())
    {
        table.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn waits_double_up_to_the_cap_and_refusals_do_not_lengthen_them() {
        let throttle = LoginThrottle::new(LoginThrottleSettings::default());
        let start = Instant::now();
        for _ in 0..5 {
            throttle.begin("a@x", ip(1), start).unwrap();
        }
        let (wait, cause) = throttle.begin("a@x", ip(1), start).unwrap_err();
        assert_eq!(
            (wait, cause),
            (Duration::from_secs(1), ThrottleCause::Account)
        );
        // Hammering while refused changes nothing.
        for _ in 0..1000 {
            assert!(throttle.begin("a@x", ip(1), start).is_err());
        }
        let mut now = start;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let (wait, _) = throttle.begin("a@x", ip(1), now).unwrap_err();
            waits.push(wait.as_secs());
            now += wait;
            throttle.begin("a@x", ip(1), now).unwrap();
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        // The right password after the wait: the account starts afresh.
        now += throttle.begin("a@x", ip(1), now).unwrap_err().0;
        throttle.begin("a@x", ip(1), now).unwrap();
        throttle.succeeded("a@x", ip(1), now);
        assert!(throttle.begin("a@x", ip(1), now).is_ok());
    }

    #[test]
    fn an_address_that_logged_in_skips_the_accounts_wait() {
        let throttle = LoginThrottle::new(LoginThrottleSettings::default());
        let now = Instant::now();
        throttle.begin("owner@x", ip(9), now).unwrap();
        throttle.succeeded("owner@x", ip(9), now);
        for _ in 0..5 {
            throttle.begin("owner@x", ip(66), now).unwrap();
        }
        assert_eq!(
            throttle.begin("owner@x", ip(66), now).unwrap_err().1,
            ThrottleCause::Account
        );
        assert_eq!(
            throttle.begin("owner@x", ip(67), now).unwrap_err().1,
            ThrottleCause::Account,
            "a new address waits too"
        );
        assert!(
            throttle.begin("owner@x", ip(9), now).is_ok(),
            "the owner's does not"
        );
    }

    #[test]
    fn one_address_spraying_many_accounts_waits() {
        let throttle = LoginThrottle::new(LoginThrottleSettings::default());
        let now = Instant::now();
        for user in 0..20 {
            throttle.begin(&format!("u{user}@x"), ip(1), now).unwrap();
        }
        assert_eq!(
            throttle.begin("u99@x", ip(1), now).unwrap_err().1,
            ThrottleCause::Address
        );
        assert!(throttle.begin("u99@x", ip(2), now).is_ok());
        // Failures are forgotten after a quiet while.
        let later = now + Duration::from_secs(15 * 60);
        assert!(throttle.begin("u98@x", ip(1), later).is_ok());
    }

    #[test]
    fn tables_stay_bounded() {
        let throttle = LoginThrottle::new(LoginThrottleSettings {
            max_tracked: 100,
            ..LoginThrottleSettings::default()
        });
        let now = Instant::now();
        for user in 0..1000u32 {
            let address = IpAddr::from(user.to_be_bytes());
            let _ = throttle.begin(&format!("u{user}@x"), address, now);
            throttle.succeeded(&format!("u{user}@x"), address, now);
        }
        let tables = throttle.tables.lock().unwrap();
        assert!(tables.accounts.len() <= 100 && tables.addresses.len() <= 100);
        assert!(tables.known.len() <= 100);
    }
}
