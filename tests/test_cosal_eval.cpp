// cosal-eval end to end: a tiny generated dataset through the evaluation
// library (outputs exist, JSON parses, numbers add up), the error paths, and
// the executable itself ($COSAL_BUILD_DIR/tools/cosal-eval).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "eval_dataset.h"
#include "eval_report.h"
#include "image.h"
#include "test_util.h"

namespace fs = std::filesystem;
using cosal::Image;
using cosal::eval::EvalError;
using cosal::test::run;
using cosal::test::RunResult;
using cosal::test::slurp;
using cosal::test::TempDir;

namespace {

// A w x h mask with a rectangle [x0, x1) x [y0, y1) of value v on background b.
Image rect(int w, int h, int x0, int y0, int x1, int y1, uint8_t v = 255, uint8_t b = 0) {
  Image img(w, h, 1, b);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) img.row(y)[x] = v;
  return img;
}

void save(const fs::path& p, const Image& img) {
  fs::create_directories(p.parent_path());
  cosal::save_png(p.string(), img);
}

// Group "walk": an object moving right one pixel per frame, predicted
// perfectly (frame names 1, 2, 10 check natural order). Group "still": a
// fixed object predicted as a soft, slightly too large blob.
void make_dataset(const fs::path& root) {
  const int frames[] = {1, 2, 10};
  for (int i = 0; i < 3; ++i) {
    const Image m = rect(24, 16, 4 + i, 4, 12 + i, 12);
    save(root / "gt" / "walk" / (std::to_string(frames[i]) + ".png"), m);
    save(root / "pred" / "walk" / (std::to_string(frames[i]) + ".png"), m);
  }
  for (int i = 0; i < 2; ++i) {
    save(root / "gt" / "still" / ("f" + std::to_string(i) + ".png"), rect(24, 16, 8, 4, 16, 12));
    save(root / "pred" / "still" / ("f" + std::to_string(i) + ".png"),
         rect(24, 16, 7, 3, 17, 13, 200, 10));
  }
}

}  // namespace

TEST(EvalDataset, NaturalOrder) {
  using cosal::eval::natural_less;
  EXPECT_TRUE(natural_less("frame2", "frame10"));
  EXPECT_FALSE(natural_less("frame10", "frame2"));
  EXPECT_TRUE(natural_less("00009", "00010"));
  EXPECT_TRUE(natural_less("a", "b"));
  EXPECT_TRUE(natural_less("a1", "a1b"));
  EXPECT_FALSE(natural_less("x7", "x7"));
}

TEST(EvalDataset, EndToEndOnGeneratedDataset) {
  const TempDir tmp("cosal_eval_test");
  make_dataset(tmp.path);
  const auto gt = (tmp.path / "gt").string(), pred = (tmp.path / "pred").string();
  const auto m = cosal::eval::evaluate_method("mine", pred, gt, {});
  const auto& r = m.report;
  ASSERT_EQ(r.groups.size(), 2u);
  EXPECT_EQ(r.groups[0].name, "still");  // sorted
  EXPECT_EQ(r.groups[1].name, "walk");
  EXPECT_EQ(r.per_image.images, 5u);
  ASSERT_EQ(r.images.size(), 5u);
  EXPECT_EQ(r.images[2].name, "1");
  EXPECT_EQ(r.images[3].name, "2");
  EXPECT_EQ(r.images[4].name, "10");
  EXPECT_EQ(r.groups[1].scores.mae, 0.0);
  EXPECT_GT(r.groups[0].scores.mae, 0.0);
  // walk: each step changes one column of 8 pixels on and one off: 16 of the
  // 64 object pixels... inside the new object only the new column changed.
  EXPECT_EQ(r.groups[1].temporal.pairs(), 2);
  EXPECT_DOUBLE_EQ(r.groups[1].temporal.inside(), 8.0 / 64.0);
  EXPECT_DOUBLE_EQ(r.groups[1].temporal.outside(), 8.0 / (24 * 16 - 64));
  EXPECT_DOUBLE_EQ(r.groups[0].temporal.inside(), 0.0);
  // DAVIS's J and F (r = ceil(0.008 * 28.8) = 1). walk: perfect, 1 and 1.
  // still: J = 64 / 100; the 10 x 10 prediction's 40 contour pixels lie one
  // pixel outside the 8 x 8 truth's 32, all within reach except its 4
  // corners (sqrt 2 away): P = 36 / 40, R = 1, F = 18 / 19.
  const double f_still = 18.0 / 19, j_still = 0.64;
  EXPECT_DOUBLE_EQ(r.groups[0].scores.boundary_f, f_still);
  EXPECT_DOUBLE_EQ(r.groups[0].scores.iou, j_still);
  EXPECT_DOUBLE_EQ(r.groups[1].scores.boundary_f, 1.0);
  EXPECT_DOUBLE_EQ(r.groups[1].scores.jf, 1.0);
  EXPECT_DOUBLE_EQ(r.images[0].scores.jf, (j_still + f_still) / 2);
  EXPECT_DOUBLE_EQ(r.per_image.scores.boundary_f, (2 * f_still + 3) / 5);
  EXPECT_DOUBLE_EQ(r.per_group.boundary_f, (f_still + 1) / 2);
  const double jf_per_group = ((j_still + 1) / 2 + (f_still + 1) / 2) / 2;
  EXPECT_DOUBLE_EQ(r.per_group.jf, jf_per_group);

  const fs::path out = tmp.path / "out";
  cosal::eval::write_outputs(out.string(), {m}, gt);
  for (const auto& f : cosal::eval::output_files()) {
    ASSERT_TRUE(fs::exists(out / f)) << f;
    EXPECT_GT(fs::file_size(out / f), 100u) << f;
  }
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "left behind: " << e.path();
  const auto j = nlohmann::json::parse(slurp(out / "summary.json"));
  const auto& mj = j.at("methods").at(0);
  EXPECT_EQ(mj.at("name"), "mine");
  EXPECT_EQ(mj.at("images"), 5);
  EXPECT_NEAR(mj.at("per_image").at("MAE").get<double>(), r.per_image.scores.mae, 1e-12);
  EXPECT_NEAR(mj.at("per_group").at("MAE").get<double>(),
              (r.groups[0].scores.mae + r.groups[1].scores.mae) / 2, 1e-12);
  EXPECT_EQ(mj.at("groups").size(), 2u);
  EXPECT_EQ(mj.at("curves").at("precision").size(), 256u);
  EXPECT_TRUE(mj.at("temporal").at("inside").is_number());
  EXPECT_NEAR(mj.at("per_group").at("boundaryF").get<double>(), (f_still + 1) / 2, 1e-12);
  EXPECT_NEAR(mj.at("per_group").at("J&F").get<double>(), jf_per_group, 1e-12);
  EXPECT_NEAR(mj.at("per_image").at("boundaryF").get<double>(), (2 * f_still + 3) / 5, 1e-12);
  EXPECT_NEAR(mj.at("groups").at(0).at("scores").at("boundaryF").get<double>(), f_still, 1e-12);
  EXPECT_EQ(mj.at("groups").at(1).at("scores").at("J&F"), 1.0);
  EXPECT_TRUE(j.at("definitions").contains("boundaryF"));
  EXPECT_TRUE(j.at("definitions").contains("J&F"));
  const std::string csv = slurp(out / "per_group.csv");
  EXPECT_EQ(csv.rfind("method,group,images,Sm,MAE", 0), 0u) << csv;
  EXPECT_NE(csv.find(",IoU,boundaryF,J&F,temporal_inside,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("mine,walk,3,"), std::string::npos) << csv;
  // still's row ends with IoU, F, J&F, then its temporal numbers (0, 0).
  char still_row[160];
  std::snprintf(still_row, sizeof still_row, ",%.6f,%.6f,%.6f,0.000000,0.000000\n", j_still,
                f_still, (j_still + f_still) / 2);
  EXPECT_NE(csv.find(still_row), std::string::npos) << still_row << " in\n" << csv;
  EXPECT_NE(slurp(out / "pr_curve.svg").find("<svg"), std::string::npos);
  EXPECT_EQ(slurp(out / "pr_curve.png").substr(1, 3), "PNG");
  // The stdout table names every group.
  const std::string table = cosal::eval::summary_table({m});
  EXPECT_NE(table.find("still"), std::string::npos);
  EXPECT_NE(table.find("(per-group mean)"), std::string::npos);
  EXPECT_NE(table.find("    wF      J      F    J&F"), std::string::npos) << table;
  EXPECT_NE(table.find(" 0.640  0.947  0.794 "), std::string::npos) << table;  // still: J F J&F
  EXPECT_NE(table.find("J, F, J&F: "), std::string::npos) << table;
}

TEST(EvalDataset, ResizesPredictionsWithANote) {
  const TempDir tmp("cosal_eval_test");
  save(tmp.path / "gt" / "g" / "0.png", rect(20, 10, 5, 2, 15, 8));
  save(tmp.path / "pred" / "g" / "0.png", rect(40, 20, 10, 4, 30, 16));
  const auto m = cosal::eval::evaluate_method("m", (tmp.path / "pred").string(),
                                              (tmp.path / "gt").string(), {});
  EXPECT_EQ(m.resized, 1u);
  ASSERT_FALSE(m.notes.empty());
  EXPECT_NE(m.notes.back().find("40x20 -> 20x10"), std::string::npos) << m.notes.back();
  EXPECT_GT(m.report.per_image.scores.iou, 0.9);
}

TEST(EvalDataset, ClearErrors) {
  const TempDir tmp("cosal_eval_test");
  make_dataset(tmp.path);
  const auto gt = (tmp.path / "gt").string(), pred = (tmp.path / "pred").string();
  auto message = [&](const std::string& p, const std::string& g,
                     const std::vector<std::string>& groups = {}) {
    try {
      cosal::eval::evaluate_method("m", p, g, groups);
    } catch (const EvalError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(pred, gt + "/nope").find(gt + "/nope"), std::string::npos);
  EXPECT_NE(message(pred, gt, {"absent"}).find("absent"), std::string::npos);
  fs::remove(tmp.path / "pred" / "walk" / "2.png");
  const std::string missing = message(pred, gt);
  EXPECT_NE(missing.find("no prediction"), std::string::npos) << missing;
  EXPECT_NE(missing.find("(2)"), std::string::npos) << missing;
  // --groups limits the evaluation to groups that are complete.
  EXPECT_EQ(message(pred, gt, {"still"}), "no error");
  std::ofstream(tmp.path / "pred" / "walk" / "2.png") << "not a png";
  const std::string bad = message(pred, gt);
  EXPECT_NE(bad.find("walk/2.png"), std::string::npos) << bad;
  EXPECT_NE(bad.find("unreadable"), std::string::npos) << bad;
}

TEST(EvalDataset, DavisGroundTruthAgainstItself) {
  const char* shared = std::getenv("COSAL_SHARED_DIR");
  const fs::path gt = shared ? fs::path(shared) / "data/davis2016/Annotations/480p" : fs::path();
  if (!shared || !fs::is_directory(gt / "car-shadow"))
    GTEST_SKIP() << "DAVIS 2016 annotations not found under $COSAL_SHARED_DIR";
  const auto m = cosal::eval::evaluate_method("gt", gt.string(), gt.string(), {"car-shadow"});
  const auto& s = m.report.per_image.scores;
  EXPECT_EQ(m.report.per_image.images, 40u);
  EXPECT_EQ(s.mae, 0.0);
  EXPECT_NEAR(s.sm, 1.0, 1e-9);
  EXPECT_EQ(s.iou, 1.0);
  EXPECT_EQ(s.boundary_f, 1.0);
  EXPECT_EQ(s.jf, 1.0);
  EXPECT_NEAR(s.max_f, 1.0, 1e-12);
  EXPECT_NEAR(s.wf, 1.0, 1e-9);
  EXPECT_GT(m.report.groups[0].temporal.inside(), 0.0);  // the car moves
}

TEST(CosalEvalTool, RunsRefusesToOverwriteAndReportsErrors) {
  const std::string tool = cosal::test::tool_path("cosal-eval");
  if (tool.empty()) GTEST_SKIP() << "cosal-eval not built (COSAL_BUILD_DIR)";
  const TempDir tmp("cosal_eval_test");
  make_dataset(tmp.path);
  const std::string base = tool + " --gt " + (tmp.path / "gt").string();
  const std::string out = (tmp.path / "out").string();
  const std::string cmd = base + " --pred a=" + (tmp.path / "pred").string() +
                          " --pred b=" + (tmp.path / "pred").string() + " --out " + out;
  RunResult r = run(cmd);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("method a"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("method b"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("J&F"), std::string::npos) << r.output;
  const auto j = nlohmann::json::parse(slurp(fs::path(out) / "summary.json"));
  EXPECT_EQ(j.at("methods").size(), 2u);
  EXPECT_TRUE(fs::exists(fs::path(out) / "temporal.png"));

  r = run(cmd);  // out is not empty now
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("--force"), std::string::npos) << r.output;
  r = run(cmd + " --force");
  EXPECT_EQ(r.status, 0) << r.output;

  r = run(base + " --out " + out + "2");  // no --pred
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("--pred is required"), std::string::npos) << r.output;
  r = run(base + " --pred /nonexistent/preds --out " + out + "3");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/preds"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out + "3")) << "nothing is written when the evaluation fails";
}

TEST(CosalEvalTool, HelpAndUsageErrors) {
  const std::string tool = cosal::test::tool_path("cosal-eval");
  if (tool.empty()) GTEST_SKIP() << "cosal-eval not built (COSAL_BUILD_DIR)";
  RunResult r = run(tool + " --help");
  EXPECT_EQ(r.status, 0) << r.output;
  for (const char* option : {"--pred=[NAME=]DIR", "--gt=DIR", "--out=DIR", "--groups=a,b,c",
                             "--force", "--matlab", "Exit status"})
    EXPECT_NE(r.output.find(option), std::string::npos) << option << " in\n" << r.output;
  EXPECT_EQ(run(tool + " -h").status, 0);

  const std::string ok_args = " --gt g --out o --pred p";
  struct Case {
    std::string args, message;
  };
  for (const Case& c : {Case{" --bogus" + ok_args, "cosal-eval: Unknown option --bogus"},
                        Case{ok_args + " --gt", "cosal-eval: Missing argument for --gt"},
                        Case{ok_args + " stray", "cosal-eval: unexpected argument stray"},
                        Case{" --gt g --pred p", "cosal-eval: --out is required"},
                        Case{" --gt g --out o --pred a/p --pred b/p", "named 'p'"}}) {
    r = run(tool + c.args);
    EXPECT_EQ(r.status, 2) << c.args << ": " << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << ": " << r.output;
    EXPECT_NE(r.output.find("--help"), std::string::npos) << c.args << ": " << r.output;
  }
}
