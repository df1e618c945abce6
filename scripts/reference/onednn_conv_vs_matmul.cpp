// oneDNN's direct convolution against the training engine's scheme
// (im2col, then oneDNN's matmul) on ResNet-18's 3×3 stride-1 layers, one
// thread, fp32 and bf16: the measurement issue 11 asks for before choosing
// between them. The convolution runs in the layouts oneDNN picks
// (format_tag::any: blocked, nChw16c-like), timed without reorders; the
// cost of one reorder from plain NCHW float32 into its source layout is
// printed beside it. The matmul is the engine's forward product
// ([cout, cin·9] × [cin·9, N·H·W]) without the im2col (the engine's C
// im2col: go test ./trainer/blas -bench Im2col; the naive loop timed here
// is only a floor). Best of 8 runs each.
//
// Not part of the build or the tests. Needs Debian's libdnnl-dev and g++:
//
//	g++ -O2 -o /tmp/conv scripts/reference/onednn_conv_vs_matmul.cpp -ldnnl && OMP_NUM_THREADS=1 /tmp/conv
#include <oneapi/dnnl/dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <vector>
#include <cstring>
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// im2col (stride 1, pad p) of n images NCHW into [cin*k*k, n*h*w]
static void im2col(float *col, const float *x, int n, int c, int h, int w, int k, int p) {
  long cols = (long)n * h * w; long r = 0;
  for (int ci = 0; ci < c; ci++) for (int kh = 0; kh < k; kh++) for (int kw = 0; kw < k; kw++, r++) {
    float *row = col + r * cols; long j = 0;
    for (int b = 0; b < n; b++) for (int oh = 0; oh < h; oh++) for (int ow = 0; ow < w; ow++, j++) {
      int ih = oh - p + kh, iw = ow - p + kw;
      row[j] = (ih >= 0 && ih < h && iw >= 0 && iw < w) ? x[(((long)b * c + ci) * h + ih) * w + iw] : 0;
    }
  }
}

int main(int argc, char **argv) {
  engine eng(engine::kind::cpu, 0); stream s(eng);
  struct { int n, c, hw; } shapes[] = {{16, 64, 32}, {16, 128, 16}, {16, 256, 8}, {16, 64, 16}};
  for (auto sh : shapes) for (dt t : {dt::f32, dt::bf16}) {
    int N = sh.n, C = sh.c, H = sh.hw, K = 3, P = 1;
    memory::dims src{N, C, H, H}, wei{C, C, K, K}, dst{N, C, H, H}, st{1, 1}, pad{P, P};
    auto md_any = [&](memory::dims d) { return memory::desc(d, t, tag::any); };
    auto fpd = convolution_forward::primitive_desc({prop_kind::forward_training, algorithm::convolution_direct, md_any(src), md_any(wei), md_any(dst), st, pad, pad}, eng);
    auto bdpd = convolution_backward_data::primitive_desc({algorithm::convolution_direct, md_any(src), md_any(wei), md_any(dst), st, pad, pad}, eng, fpd);
    auto bwpd = convolution_backward_weights::primitive_desc({algorithm::convolution_direct, md_any(src), memory::desc(wei, dt::f32, tag::any), md_any(dst), st, pad, pad}, eng, fpd);
    memory S(fpd.src_desc(), eng), W(fpd.weights_desc(), eng), D(fpd.dst_desc(), eng);
    memory dS(bdpd.diff_src_desc(), eng), dD(bwpd.diff_dst_desc(), eng), dW(bwpd.diff_weights_desc(), eng);
    memset(S.get_data_handle(), 0, S.get_desc().get_size()); memset(W.get_data_handle(), 0, W.get_desc().get_size()); memset(dD.get_data_handle(), 0, dD.get_desc().get_size());
    convolution_forward f(fpd); convolution_backward_data bd(bdpd); convolution_backward_weights bw(bwpd);
    double best[3] = {1e9, 1e9, 1e9};
    for (int r = 0; r < 8; r++) {
      double t0 = now(); f.execute(s, {{DNNL_ARG_SRC, S}, {DNNL_ARG_WEIGHTS, W}, {DNNL_ARG_DST, D}}); s.wait();
      double t1 = now(); bd.execute(s, {{DNNL_ARG_DIFF_DST, dD}, {DNNL_ARG_WEIGHTS, W}, {DNNL_ARG_DIFF_SRC, dS}}); s.wait();
      double t2 = now(); bw.execute(s, {{DNNL_ARG_SRC, S}, {DNNL_ARG_DIFF_DST, dD}, {DNNL_ARG_DIFF_WEIGHTS, dW}}); s.wait();
      double t3 = now();
      if (t1 - t0 < best[0]) best[0] = t1 - t0; if (t2 - t1 < best[1]) best[1] = t2 - t1; if (t3 - t2 < best[2]) best[2] = t3 - t2;
    }
    // reorder cost nchw f32 -> conv src layout (what adopting plain layouts at the boundary would cost)
    memory Sp({src, dt::f32, tag::nchw}, eng); memset(Sp.get_data_handle(), 0, Sp.get_desc().get_size());
    reorder ro(Sp, S); double rb = 1e9;
    for (int r = 0; r < 8; r++) { double t0 = now(); ro.execute(s, Sp, S); s.wait(); double d = now() - t0; if (d < rb) rb = d; }
    // the same convolution on the engine's own [C,N,H,W] layout (plain,
    // described by strides): what oneDNN offers without reorders
    memory::dims cnhw{(long)H * H, (long)N * H * H, H, 1};
    auto ppd = convolution_forward::primitive_desc({prop_kind::forward_training, algorithm::convolution_direct,
      memory::desc(src, t, cnhw), md_any(wei), memory::desc(dst, dt::f32, cnhw), st, pad, pad}, eng);
    memory PS(ppd.src_desc(), eng), PW(ppd.weights_desc(), eng), PD(ppd.dst_desc(), eng);
    memset(PS.get_data_handle(), 0, PS.get_desc().get_size()); memset(PW.get_data_handle(), 0, PW.get_desc().get_size());
    convolution_forward pf(ppd); double pb = 1e9;
    // (a reference implementation, "ref:any", is not timed: it is orders of
    // magnitude slower)
    bool ref = std::strncmp(ppd.impl_info_str(), "ref", 3) == 0;
    for (int r = 0; r < 8 && !ref; r++) { double t0 = now(); pf.execute(s, {{DNNL_ARG_SRC, PS}, {DNNL_ARG_WEIGHTS, PW}, {DNNL_ARG_DST, PD}}); s.wait(); double d = now() - t0; if (d < pb) pb = d; }
    if (ref) pb = 0;
    // im2col + matmul (the engine's scheme), forward only
    long kk = (long)C * K * K, cols = (long)N * H * H;
    std::vector<float> x((long)N * C * H * H, 0.5f), col(kk * cols);
    memory::desc a_md({C, kk}, t, tag::ab), b_md({kk, cols}, t, tag::ab), c_md({C, cols}, dt::f32, tag::ab);
    auto mpd = matmul::primitive_desc(matmul::desc(a_md, b_md, c_md), eng);
    memory A(a_md, eng), B(b_md, eng), Cm(c_md, eng);
    memset(A.get_data_handle(), 0, a_md.get_size()); memset(B.get_data_handle(), 0, b_md.get_size());
    matmul mm(mpd); double ib = 1e9, mb = 1e9;
    for (int r = 0; r < 8; r++) {
      double t0 = now(); im2col(col.data(), x.data(), N, C, H, H, K, P); double t1 = now();
      mm.execute(s, {{DNNL_ARG_SRC, A}, {DNNL_ARG_WEIGHTS, B}, {DNNL_ARG_DST, Cm}}); s.wait(); double t2 = now();
      if (t1 - t0 < ib) ib = t1 - t0; if (t2 - t1 < mb) mb = t2 - t1;
    }
    double gf = 2.0 * C * kk * cols / 1e9;
    printf("%s N%d C%d %dpx: conv fwd %.2f ms (%.0f GF/s) bwd-data %.2f bwd-w %.2f [%s] | src reorder %.2f | conv on CNHW fwd %.2f ms [%s] | matmul fwd %.2f ms (%.0f GF/s) (+naive im2col %.2f)\n",
      t == dt::f32 ? "f32 " : "bf16", N, C, H, best[0] * 1e3, gf / best[0], best[1] * 1e3, best[2] * 1e3, fpd.impl_info_str(), rb * 1e3, pb * 1e3, ppd.impl_info_str(), mb * 1e3, gf / mb, ib * 1e3);
    fflush(stdout);
  }
}
