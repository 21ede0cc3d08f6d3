// vigil inspect --reference DIR --query DIR [--calibration FILE] --out DIR
#include <cstdio>

#include "cli_common.h"
#include "commands.h"
#include "vigil/inspection/inspector.h"
#include "vigil/util/check.h"
#include "vigil/util/options_fields.h"
#ifdef VIGIL_HAVE_ROS  // ROS hook (owner: ros): --reference/--query may be bags
#include "bag_input.h"
#endif

namespace vigil::cli {

int RunInspect(int argc, char** argv) {
  CLI::App app{"Detect new, missing and changed objects: for every image of a query run, pick "
               "the reference image nearest in pose (or appearance), match keypoints, and report "
               "what the reference does not explain (Algorithm 1 of the robot change-detection "
               "paper). Writes per query <stem>.json, masks/<stem>.png, panels/<stem>.png and a "
               "report.html; re-running on the same --out resumes.",
               "inspect"};
  std::string reference_dir, query_dir, out_dir, segmenter_weights, pairs_file;
  std::string tie_break = "path";
  bool no_segmenter = false, no_missing = false, no_resume = false, no_panels = false,
       quiet = false, paper_clusters = false, no_photometric = false, single_view = false,
       no_poses = false, strict = false;
  ExtractorFlags extractor_flags;
  MatcherFlags matcher_flags;
  InspectorOptions options;
#ifdef VIGIL_HAVE_ROS  // ROS hook: a run folder or a .bag (then --image-topic etc.)
  const CLI::Validator& run_input = CLI::ExistingPath;
  BagInputFlags bag_flags;
  AddBagInputOptions(app, bag_flags);
#else
  const CLI::Validator& run_input = CLI::ExistingDirectory;
#endif
  std::string map_file;
  auto* reference_flag =
      app.add_option("--reference", reference_dir, "reference run folder (images + optional poses.csv "
                     "or TUM trajectory), or one reference image compared with every query (a "
                     "template, a fixed camera's view)")->check(CLI::ExistingPath);
  auto* map_flag = app.add_option("--map", map_file,
                                  "map file from vigil map build, instead of --reference: no "
                                  "reference image is decoded or extracted again")
                       ->check(CLI::ExistingFile)
                       ->excludes(reference_flag);
  reference_flag->excludes(map_flag);
  app.add_option("--query", query_dir, "query run folder")->required()->check(run_input);
  app.add_option("--out", out_dir, "output folder")->required();
  app.add_option("--calibration", options.calibration_file,
                 "calibration.json from vigil calibrate (sets the match threshold)");
  AddExtractorOptions(app, extractor_flags);
  AddMatcherOptions(app, matcher_flags);
  app.add_option("--segmenter", options.segmenter.type,
                 "auto|yolov8-seg|deeplabv3|maskrcnn|graph (auto: the first whose weights are found)")
      ->capture_default_str();
  app.add_option("--segmenter-weights", options.segmenter.weights, "segmenter model file");
  app.add_flag("--no-segmenter", no_segmenter, "skip instance segmentation (DBSCAN only)");
  app.add_option("--segment-when", options.segment_when,
                 "evidence: segment only frames where the keypoints already show a change; "
                 "confirmed: only where that change also survives the confirmation; "
                 "always: every frame (the paper)")
      ->capture_default_str();
  app.add_option("--overlap", options.detector.overlap.method, "overlap mask: box|hull|homography")
      ->capture_default_str();
  app.add_option("--overlap-margin", options.detector.overlap.margin_fraction,
                 "shrink the overlap by this share of the image's shorter side")
      ->capture_default_str();
  app.add_option("--min-excess", options.detector.min_unmatched_excess,
                 "an instance is an anomaly when unmatched - matched keypoints >= this")
      ->capture_default_str();
  app.add_option("--min-samples", options.detector.min_samples, "DBSCAN minPts")->capture_default_str();
  app.add_option("--eps", options.detector.eps_px, "DBSCAN eps in pixels (0 = k-distance knee)")
      ->capture_default_str();
  app.add_option("--max-eps", options.detector.max_eps_px,
                 "upper bound on the automatic DBSCAN eps, pixels")->capture_default_str();
  app.add_option("--min-ncc", options.detector.photometric.min_ncc,
                 "photometric check: an unmatched keypoint whose patch is found again in the other "
                 "image with this normalised cross-correlation is not a change")
      ->capture_default_str();
  app.add_option("--search-radius", options.detector.photometric.search_radius,
                 "photometric check: search radius around the predicted position, pixels")
      ->capture_default_str();
  app.add_option("--patch-radius", options.detector.photometric.patch_radius,
                 "photometric check: patch of (2r+1)^2 pixels around the keypoint")
      ->capture_default_str();
  app.add_flag("--no-photometric", no_photometric, "disable the photometric check (the paper)");
  app.add_flag("--paper-clusters", paper_clusters,
               "keep every DBSCAN cluster (the paper), not only those with more unmatched than "
               "matched keypoints");
  app.add_flag("--single-view", single_view,
               "do not confirm anomalies against the second-nearest reference (the paper)");
  app.add_option("--confirm-fraction", options.second_view.min_area_fraction,
                 "share of an anomaly's area the second reference view must also flag")
      ->capture_default_str();
  app.add_option("--confirm-keypoints", options.second_view.min_keypoint_share,
                 "share of a new anomaly's keypoints that the second reference view must also "
                 "leave unexplained (among those it can judge)")
      ->capture_default_str();
  app.add_option("--confirm", options.confirmation,
                 "how further views confirm the keypoint evidence's candidates: keypoints (the "
                 "second view's Algorithm 1 must show the same change) or dense (the dense map "
                 "against the verified references must make the candidate's region significant "
                 "against change-free maps of the reference run)")
      ->capture_default_str();
  app.add_flag("--no-missing", no_missing, "do not look for objects missing from the query");
  app.add_option("--max-distance", options.selection.max_distance_m,
                 "pose retrieval: largest reference distance, metres")->capture_default_str();
  app.add_option("--max-angle", options.selection.max_angle_deg,
                 "pose retrieval: largest orientation difference, degrees")->capture_default_str();
  app.add_flag("--no-poses", no_poses,
               "ignore the runs' pose files: references are chosen by appearance and verified "
               "matches");
  app.add_option("--pose-tie-break", tie_break,
                 "pose retrieval: how to choose between references nearly as near as the nearest: "
                 "path (the one behind the query along the reference run's travel), matches (most "
                 "verified matches), nearest")
      ->capture_default_str();
  app.add_option("--pairs", pairs_file,
                 "CSV of query,reference file names: compare each query with its listed reference "
                 "(images in --query and --reference), no retrieval")->check(CLI::ExistingFile);
  app.add_flag("--strict", strict,
               "stop at the first unreadable or oversized frame instead of skipping it (the "
               "default skips it, lists it in skipped.json and exits with code 3)");
  app.add_option("--max-pixels", options.max_pixels,
                 "pixel budget per image (about 0.55 GB per megapixel in SuperPoint); a larger "
                 "frame is skipped with its size named")->capture_default_str();
  app.add_option("--jobs", options.jobs,
                 "queries inspected at once (at most --threads), each worker with --threads / --jobs "
                 "threads; results do not depend on it")
      ->capture_default_str();
  app.add_option("--max-cached-references", options.max_cached_references,
                 "reference frames each worker keeps in memory between queries, most recently used "
                 "first (about 6 MB each at 640x480); results do not depend on it")
      ->capture_default_str();
  app.add_option("--evidence", options.evidence,
                 "change evidence: auto (dense with --pairs or one --reference image, keypoints for "
                 "runs), keypoints (Algorithm 1 of the paper) or dense (every pixel against the "
                 "verified references, threshold calibrated from the reference images)")
      ->capture_default_str();
  app.add_option("--dense-false-alarm-rate", options.dense_false_alarm_rate,
                 "dense evidence: share of clean pixels allowed above the calibrated threshold")
      ->capture_default_str();
  app.add_option("--dense-window", options.dense.window_radius,
                 "dense evidence: a pixel is explained by the best reference pixel within +-this, pixels")
      ->capture_default_str();
  app.add_flag("--no-resume", no_resume, "recompute queries already done in --out");
  app.add_flag("--no-panels", no_panels, "do not write panels/<stem>.png");
  std::vector<std::string> sets;
  app.add_option("--set", sets,
                 "PATH=VALUE: any option by its path in the report's configuration table, e.g. "
                 "extractor.superpoint.nms_radius=3 or detector.overlap.method=hull (repeatable; "
                 "applied after the other flags)");
  app.add_flag("--quiet", quiet, "no progress bar");
  return RunCommandWithStatus(app, argc, argv, [&] {
    options.selection.pose_tie_break = retrieval::ParsePoseTieBreak(tie_break, "--pose-tie-break");
    if (no_poses) options.reference_run.poses = options.query_run.poses = "none";
    options.extractor = extractor_flags.Resolve();
    options.matcher = matcher_flags.Resolve();
    options.SetNumThreads(options.extractor.num_threads);  // one --threads for every model
    if (!pairs_file.empty()) options.pairs = ReadInspectionPairs(pairs_file);
    options.strict = strict;
    options.segment = !no_segmenter;
    options.detector.detect_missing = !no_missing;
    options.detector.cluster_excess_rule = !paper_clusters;
    options.detector.photometric.enabled = !no_photometric;
    options.confirm_with_second_reference = !single_view;
    options.resume = !no_resume;
    options.write_panels = !no_panels;
    options.show_progress = !quiet;
#ifdef VIGIL_HAVE_ROS  // ROS hook: bags are extracted to <out>/bag_runs/{reference,query}
    if (!reference_dir.empty()) reference_dir = RunFolderFor(reference_dir, bag_flags, out_dir, "reference");
    query_dir = RunFolderFor(query_dir, bag_flags, out_dir, "query");
#endif
    for (const std::string& assignment : sets) SetOptionField(&options, assignment);
    VIGIL_CHECK_OPTION(!reference_dir.empty() || !map_file.empty(), "--reference",
                       "give the reference run (--reference DIR|BAG|IMAGE) or its map (--map FILE)");
    const InspectionSummary summary =
        map_file.empty() ? RunInspection(reference_dir, query_dir, out_dir, options, &InterruptToken())
                         : RunInspectionWithMap(map_file, query_dir, out_dir, options, &InterruptToken());
    int with_changes = 0, flagged = 0, resumed = 0;
    for (const QueryOutcome& q : summary.queries) {
      with_changes += !q.record.anomalies.empty();
      flagged += q.record.localization_error;
      resumed += q.resumed;
    }
    std::printf("%zu queries (%d resumed): %d with changes, %d flagged as localization errors; "
                "threshold %.2f (%s), segmenter %s\nreport: %s/report.html\n",
                summary.queries.size(), resumed, with_changes, flagged, summary.threshold,
                summary.threshold_source.c_str(), summary.segmenter.c_str(), out_dir.c_str());
    if (summary.skipped.empty()) return 0;
    std::fprintf(stderr, "vigil inspect: completed with %zu skipped frames (listed in %s/skipped.json):\n",
                 summary.skipped.size(), out_dir.c_str());
    for (const SkippedFrame& s : summary.skipped) {
      std::fprintf(stderr, "  %s frame skipped: %s\n", s.run.c_str(), s.reason.c_str());
    }
    return kExitSkippedFrames;
  });
}

}  // namespace vigil::cli
