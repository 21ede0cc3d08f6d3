// The process-wide thread counts of OpenCV and OpenBLAS, changed only when they differ.
//
// Why a wrapper: both settings are global, and with Debian's OpenCV (TBB backend)
// cv::setNumThreads re-creates the task arena, which crashes a cv::parallel_for that another
// thread is running in it at that moment (seen: vigil inspect with two workers, one creating its
// SIFT extractor while the other segmented). A run that inspects several frames at once
// (InspectorOptions::jobs) sets both counts once before its workers start; every later call
// with the same count then leaves the globals alone, so concurrent workers never re-create
// them under each other.
#pragma once

namespace vigil {

void SetCvThreads(int num_threads);    // cv::setNumThreads unless cv::getNumThreads() is already it
void SetBlasThreads(int num_threads);  // openblas_set_num_threads likewise
int BlasThreads();                     // openblas_get_num_threads()

}  // namespace vigil
