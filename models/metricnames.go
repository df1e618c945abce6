package models

// Validation metric names, spelled once. The trainer logs its epochs with
// them, writes them as the keys of metrics.jsonl and its per-epoch table,
// and stores the final validation metrics under them in
// [Training.Metrics]; `tagnet-train eval` and `tagnet-predict info` print
// them. Changing one changes the files: readers of older models look
// metrics up by these names.
const (
	// MetricLoss is the validation loss (mean binary cross-entropy with
	// logits) as [Training.Metrics] stores it.
	MetricLoss = "loss"
	// MetricTrainLoss and MetricValidLoss are an epoch's mean training
	// loss and its validation loss, as metrics.jsonl and the per-epoch
	// table name them.
	MetricTrainLoss = "train_loss"
	MetricValidLoss = "valid_loss"
	// MetricAccuracyMulti is fastai's accuracy_multi: the fraction of
	// (item, class) pairs predicted right at the training threshold.
	MetricAccuracyMulti = "accuracy_multi"
	// MetricF1Macro is the mean per-class F1 at 0.5.
	MetricF1Macro = "f1_macro"
	// MetricF1Samples is the mean per-item F1 at 0.5.
	MetricF1Samples = "f1_samples"
	// MetricMAP is the mean average precision over the classes with
	// validation positives (threshold-free).
	MetricMAP = "mAP"
)

// SummaryMetrics returns the names of the metrics [Training.Metrics]
// holds, in the order reports print them: MetricLoss, MetricAccuracyMulti,
// MetricF1Macro, MetricF1Samples, MetricMAP. The slice is new on each
// call.
func SummaryMetrics() []string {
	return []string{MetricLoss, MetricAccuracyMulti, MetricF1Macro, MetricF1Samples, MetricMAP}
}
