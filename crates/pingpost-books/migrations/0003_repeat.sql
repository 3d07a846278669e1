-- Whether the entry belongs to a repeat sale (a returning consumer bought again at the
-- contract's repeat price): accounts show repeat sales apart. Entries written before repeats
-- existed belong to new leads.
ALTER TABLE entries ADD COLUMN repeat BOOLEAN NOT NULL DEFAULT false;
