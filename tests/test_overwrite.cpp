// Tools never overwrite an existing output unless asked (--force), and say
// so: the refusal names the file and the option, and the file is untouched.
// cosal-infer's, cosal-eval's and cosal-bench's refusals are tested with their
// runs (test_train, test_cosal_eval, test_bench), cosal-train's in-process one
// in test_train; here the executables that have no other test of it.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "test_util.h"

namespace fs = std::filesystem;
using cosal::test::run;
using cosal::test::RunResult;
using cosal::test::slurp;
using cosal::test::tool_path;
using cosal::test::write_text;

namespace {

class Overwrite : public ::testing::Test {
 protected:
  cosal::test::TempDir tmp_{"cosal-overwrite"};
  const fs::path& dir_ = tmp_.path;
};

}  // namespace

TEST_F(Overwrite, CosalDemoRefusesEachExistingOutput) {
  const std::string demo = tool_path("cosal-demo");
  if (demo.empty()) GTEST_SKIP() << "cosal-demo not built";
  write_text(dir_ / "in.webm", "not a video: the refusal comes before decoding");
  for (const char* name : {"cutout.webm", "mask.webm", "contact_sheet.png"}) {
    const fs::path out = dir_ / (std::string("out-") + name);
    write_text(out / name, "precious");
    const RunResult r =
        run(demo + " --input " + (dir_ / "in.webm").string() + " --out " + out.string());
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find((out / name).string()), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--force"), std::string::npos) << r.output;
    EXPECT_EQ(slurp(out / name), "precious");
  }
}

TEST_F(Overwrite, CosalBatchSkipsExistingOutputsAndSaysHowToRedoThem) {
  const std::string batch = tool_path("cosal-batch");
  if (batch.empty()) GTEST_SKIP() << "cosal-batch not built";
  write_text(dir_ / "clip.mp4", "not a video: skipped before decoding");
  write_text(dir_ / "out/clip-mask.mkv", "precious");
  const RunResult r =
      run(batch + " -o " + (dir_ / "out").string() + " " + (dir_ / "clip.mp4").string());
  EXPECT_NE(r.output.find((dir_ / "out/clip-mask.mkv").string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--force"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 skipped"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(dir_ / "out/clip-mask.mkv"), "precious");
}

TEST_F(Overwrite, CosalTrainRefusesAnExistingModel) {
  const std::string train = tool_path("cosal-train");
  if (train.empty()) GTEST_SKIP() << "cosal-train not built";
  fs::create_directories(dir_ / "data");
  write_text(dir_ / "model.safetensors", "precious");
  const RunResult r = run(train + " --groups " + (dir_ / "data").string() + " --out " +
                          (dir_ / "model.safetensors").string());
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find((dir_ / "model.safetensors").string() + ": exists"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("--force"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(dir_ / "model.safetensors"), "precious");
}
