// The graph segmenter's own options (the segmenter itself: graph_segmenter.h). A header of its
// own, with no vigil includes, so that SegmenterOptions (segmenter.h) can hold it by value while
// graph_segmenter.h includes segmenter.h; Check() is defined in graph_segmenter.cc.
#pragma once

namespace vigil {

// Felzenszwalb & Huttenlocher (IJCV 2004) graph segmentation, opencv_contrib ximgproc.
// Defaults are for 640x480 indoor frames; images are segmented at their own size.
struct GraphSegmenterOptions {
  double sigma = 0.5;                 // Gaussian pre-smoothing, pixels (0.8 blurs edges into
                                      // separate thin segments along object outlines)
  float k = 600.f;                    // merge threshold scale (larger = larger segments)
  int min_size = 400;                 // segments smaller than this are merged, pixels
  float max_area_fraction = 0.2f;     // drop segments larger than this share of the image
                                      // (walls, floor, background)
  float min_fill_ratio = 0.15f;       // drop segments filling less of their box than this:
                                      // thin rings along strong edges, not objects
  bool drop_border_touching = false;  // also drop segments touching 3+ image borders
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("sigma", s.sigma);
    v("k", s.k);
    v("min_size", s.min_size);
    v("max_area_fraction", s.max_area_fraction);
    v("min_fill_ratio", s.min_fill_ratio);
    v("drop_border_touching", s.drop_border_touching);
  }
  void Check() const;
};

}  // namespace vigil
