use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Permits are KiB so one reservation of a few GiB still fits the semaphore's u32 count.
const UNIT: u64 = 1024;

/// Memory shared by every request's body and what is decoded from it (`max_inflight_bytes`).
/// Reservations never wait: a full budget answers at once, so no request holds a part of the
/// budget while waiting for more (which could deadlock two large requests).
#[derive(Clone)]
pub struct BodyBudget {
    semaphore: Arc<Semaphore>,
    total_units: u64,
}

/// Why a reservation failed.
#[derive(Debug, PartialEq, Eq)]
pub enum BudgetError {
    /// Other requests hold the memory now; retry later.
    Busy,
    /// This request would need more than the whole budget.
    NeverFits,
}

/// Memory held by one request; released when dropped.
#[derive(Default)]
pub struct Reservation {
    permits: Vec<OwnedSemaphorePermit>,
    units: u64,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> BodyBudget {
        let total_units = (bytes as u64).div_ceil(UNIT).clamp(1, u32::MAX as u64);
        BodyBudget {
            semaphore: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
        }
    }

    /// Grows `reservation` so it covers `bytes` in total.
    pub fn reserve_total(
        &self,
        reservation: &mut Reservation,
        bytes: u64,
    ) -> Result<(), BudgetError> {
        let wanted = bytes.div_ceil(UNIT);
        if wanted <= reservation.units {
            return Ok(());
        }
        if wanted > self.total_units {
            return Err(BudgetError::NeverFits);
        }
        let more = wanted - reservation.units;
        let permit = u32::try_from(more)
            .ok()
            .and_then(|more| self.semaphore.clone().try_acquire_many_owned(more).ok())
            .ok_or(BudgetError::Busy)?;
        reservation.permits.push(permit);
        reservation.units = wanted;
        Ok(())
    }

    /// Bytes not reserved by any request now.
    #[cfg(test)]
    pub fn available_bytes(&self) -> u64 {
        self.semaphore.available_permits() as u64 * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_grow_release_on_drop_and_refuse_what_does_not_fit() {
        let budget = BodyBudget::new(10 * 1024);
        let mut first = Reservation::default();
        budget.reserve_total(&mut first, 4000).unwrap();
        budget.reserve_total(&mut first, 6 * 1024).unwrap();
        assert_eq!(budget.available_bytes(), 4 * 1024);
        let mut second = Reservation::default();
        assert_eq!(
            budget.reserve_total(&mut second, 5 * 1024),
            Err(BudgetError::Busy)
        );
        assert_eq!(
            budget.reserve_total(&mut second, 11 * 1024),
            Err(BudgetError::NeverFits)
        );
        drop(first);
        budget.reserve_total(&mut second, 10 * 1024).unwrap();
        assert_eq!(budget.available_bytes(), 0);
    }
}
