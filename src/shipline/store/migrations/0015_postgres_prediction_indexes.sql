-- engines: postgres
-- An incremental run replaces the predictions of the shipments it touched: found by key.
CREATE UNIQUE INDEX IF NOT EXISTS shipment_predictions_shipment ON shipment_predictions (shipment_id);
CREATE INDEX IF NOT EXISTS prediction_model_segment ON prediction_model (model_version, segment);
