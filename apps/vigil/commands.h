// The vigil CLI's subcommands. Each parses its options into the library's options structs and
// calls the library; none holds pipeline logic of its own.
#pragma once

namespace vigil::cli {

int RunFeatures(int argc, char** argv);    // commands/features.cc
int RunMatch(int argc, char** argv);       // commands/match.cc
int RunCalibrate(int argc, char** argv);   // commands/calibrate.cc
int RunInspect(int argc, char** argv);     // commands/inspect.cc
int RunEvalChanges(int argc, char** argv); // commands/eval_changes.cc
int RunSpade(int argc, char** argv);       // commands/spade.cc (fit | score | eval)
int RunMap(int argc, char** argv);         // commands/map.cc (build | add | info)
int RunBagExtract(int argc, char** argv);  // commands/bag_extract.cc (VIGIL_HAVE_ROS only)

}  // namespace vigil::cli
