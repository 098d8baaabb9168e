#pragma once
// sherl-extract's work: run a frozen backbone once over an input and cache the tiers that
// SHERL needs in a shard set. The selected examples are cut into fixed blocks of
// `examples_per_shard`; block k always becomes shard-<k>.h5, whatever the partitioning, so
// that N partitions (--shard i/N) together write exactly the shard set of one run, and a
// rerun after an interruption keeps every complete shard and redoes only the rest.
#include <torch/torch.h>

#include <string>

#include "lib/extract/cache_estimate.h"
#include "lib/input/source.h"
#include "lib/shard/shard.h"

namespace sherl {

struct ExtractOptions {
  std::string model_dir;
  InputSpec input;                 // input.path must be a file (stdin spooled by the caller)
  std::string source_name;         // recorded as the source path ("-" for stdin)
  std::string out_dir;
  int64_t late_layers = 1;
  std::string tiers = "all";       // "all" or a comma list of tier indices
  FeatureDType dtype = FeatureDType::F16;
  int64_t batch_size = 64;
  int64_t partition = 0;           // --shard i/N
  int64_t partitions = 1;
  int64_t examples_per_shard = 1000;
  CompressionOptions compression;
  torch::Device device = torch::kCPU;
  torch::ScalarType precision = torch::kFloat32;  // of the frozen forward pass (--precision)
  bool quiet = false;
  bool overwrite = false;          // replace a shard set (or files) not made by this extraction
  bool estimate_only = false;      // --estimate: the estimate alone, nothing written
  bool check_free_space = true;    // refuse to start when the estimate exceeds the free space
  std::string command_line;
};

struct ExtractReport {
  int64_t examples = 0;            // examples in this partition
  int64_t shards_written = 0;
  int64_t shards_kept = 0;         // complete shards found from an earlier run
  bool manifest_written = false;   // false while other partitions are still missing
  double seconds = 0;
  CacheEstimate estimate;          // of this run's shards, made before anything was written
};

// Extracts (or with estimate_only, only estimates). Throws before writing anything when the
// estimate exceeds the free space at --out (unless check_free_space is off).
ExtractReport run_extraction(const ExtractOptions& options);

// Resolves "--tiers" for a backbone of `num_layers` layers cut for `late_layers`: "all" is
// 0..L-K; a list is validated and the last tier L-K is always added.
std::vector<int64_t> resolve_tiers(const std::string& spec, int64_t num_layers, int64_t late_layers);

// Merges the per-partition manifests of DIR (of `partitions` partitions; -1: the count of
// the newest part manifest) into manifest.json once all are present. Returns true when
// manifest.json was written.
bool merge_partition_manifests(const std::string& out_dir, int64_t partitions = -1);

}  // namespace sherl
