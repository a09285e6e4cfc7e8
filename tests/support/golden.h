// Test support: reading the TFLite 8x8_16 golden cases of ../shared/golden (schema in that folder's
// README §4) into the runtime's structs. Test-only; uses nlohmann::json.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "irnn/tflite_lstm.h"

namespace irnn::testing {

// The shared folder (golden vectors, data): $IRNN_SHARED if set, else the CMake IRNN_SHARED_DIR.
std::string SharedDir();

// Parses a JSON file; throws std::runtime_error naming the file when it is missing or malformed.
nlohmann::json ReadJson(const std::string& path);

// Case file names (without directory) of one golden folder, sorted; throws if the folder is missing
// or empty.
std::vector<std::string> ListGoldenCases(const std::string& folder, const std::string& prefix);

struct GoldenLstmCase {
  std::string name;  // file stem, e.g. "c17_ln_clips"
  TfliteLstmConfig config;
  TfliteLstmWeights weights;
  TfliteLstmQuantization quantization;
  nlohmann::json integer_params;  // what TFLite's Prepare derived
  int n_batch = 0, n_steps = 0;
  std::vector<int8_t> input;            // [steps][batch][n_input]
  std::vector<int8_t> output_state_init;
  std::vector<int16_t> cell_state_init;
  std::vector<std::vector<int8_t>> expected_output;      // [steps][batch * n_output]
  std::vector<std::vector<int16_t>> expected_cell;       // [steps][batch * n_cell]
  nlohmann::json trace;                                  // expected.trace
};

GoldenLstmCase LoadGoldenLstmCase(const std::string& path);

// TfliteLstmParams straight from the case's integer_params (no derivation).
TfliteLstmParams ParamsFromGolden(const GoldenLstmCase& c);

}  // namespace irnn::testing
