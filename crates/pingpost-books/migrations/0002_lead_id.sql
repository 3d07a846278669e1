-- The buyer's own id for a lead (its post answer's `lead_id`, read by its adapter), on the
-- entry of the sale it belongs to: what an operator quotes when settling with the buyer.
ALTER TABLE entries ADD COLUMN lead_id TEXT;
