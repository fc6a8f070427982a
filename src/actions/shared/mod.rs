//! What the database actions of every engine share: archives written whole or
//! not at all, row and byte meters, host facts, size units, table filters and
//! verify modes. One concept, one parameter shape, across engines.
