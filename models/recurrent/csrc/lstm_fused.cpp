// Fused CPU LSTM recurrence: the whole time loop of one direction of one layer, forward and backward.
//
// Why: at small sizes (B=32, H=128) a step of the pure PyTorch path is ~7 dispatched ops whose overhead costs
// more than their arithmetic. Here each step is one matmul (h_{t-1} W_hh^T, or dpre_t W_hh in backward) plus
// one pass over memory for all the gate arithmetic, and the Python loop is gone.
//
// Layout (PyTorch's, time-major): gates (T, B, 4H) in i, f, g, o order; hs, cs (T+1, B, H) with hs[0] = h0,
// hs[t+1] = h_t; tanh_c (T, B, H). Variable lengths come as batch_sizes (non-increasing, rows sorted by length):
// at step t only rows [:batch_sizes[t]] are computed; the others output zero and keep their state.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <vector>

namespace {

// exp for float in a form compilers vectorize: Cody-Waite range reduction, Cephes' degree-5 polynomial (~1 ulp),
// rounding by the 1.5 * 2^23 trick, the power of two built in the exponent bits. Clamped so it never overflows.
inline float exp_vectorizable(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float shifter = 12582912.0f;  // 1.5 * 2^23
  float n = (x * 1.44269504088896341f + shifter) - shifter;
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_vectorizable(-x)); }
inline float tanh_(float x) { return 2.0f / (1.0f + exp_vectorizable(-2.0f * x)) - 1.0f; }
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double tanh_(double x) { return std::tanh(x); }

// Gate arithmetic of one step for rows [0, rows): adds the bias (4H,) to the pre-activations, activates them in
// place and writes c_t, tanh(c_t) and h_t. One thread: a step's B*H elements are too few to pay for a hand-off.
template <typename scalar_t>
void forward_step(scalar_t* gates, const scalar_t* bias, const scalar_t* c_prev, scalar_t* c_next, scalar_t* tanh_c,
                  scalar_t* h_next, int64_t rows, int64_t hidden) {
  const scalar_t* __restrict__ bi = bias;
  const scalar_t* __restrict__ bf = bias + hidden;
  const scalar_t* __restrict__ bg = bias + 2 * hidden;
  const scalar_t* __restrict__ bo = bias + 3 * hidden;
  for (int64_t b = 0; b < rows; ++b) {
    scalar_t* __restrict__ gi = gates + b * 4 * hidden;
    scalar_t* __restrict__ gf = gi + hidden;
    scalar_t* __restrict__ gg = gi + 2 * hidden;
    scalar_t* __restrict__ go = gi + 3 * hidden;
    const scalar_t* __restrict__ cp = c_prev + b * hidden;
    scalar_t* __restrict__ cn = c_next + b * hidden;
    scalar_t* __restrict__ tc = tanh_c + b * hidden;
    scalar_t* __restrict__ hn = h_next + b * hidden;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      const scalar_t i = sigmoid(gi[j] + bi[j]), f = sigmoid(gf[j] + bf[j]), g = tanh_(gg[j] + bg[j]),
                     o = sigmoid(go[j] + bo[j]);
      gi[j] = i;
      gf[j] = f;
      gg[j] = g;
      go[j] = o;
      const scalar_t c = f * cp[j] + i * g;
      const scalar_t t = tanh_(c);
      cn[j] = c;
      tc[j] = t;
      hn[j] = o * t;
    }
  }
}

// Gradient of one step for rows [0, rows): dh (the recurrent part) + grad_out is dL/dh_t, dc is dL/dc_t from
// step t+1 (updated in place to dL/dc_{t-1}); writes the pre-activation gradients dpre (i, f, g, o) and adds
// them, summed over rows, to the bias gradient db (4H,) while they are in cache. kKeep: also write dL/dh_t to
// keep (rows, H), for introspection (models/recurrent/recording.py).
template <typename scalar_t, bool kKeep>
void backward_step(const scalar_t* gates, const scalar_t* c_prev, const scalar_t* tanh_c, const scalar_t* grad_out,
                   const scalar_t* dh, scalar_t* dc, scalar_t* dpre, scalar_t* db, scalar_t* keep, int64_t rows,
                   int64_t hidden) {
  scalar_t* __restrict__ dbi = db;
  scalar_t* __restrict__ dbf = db + hidden;
  scalar_t* __restrict__ dbg = db + 2 * hidden;
  scalar_t* __restrict__ dbo = db + 3 * hidden;
  for (int64_t b = 0; b < rows; ++b) {
    const scalar_t* __restrict__ gi = gates + b * 4 * hidden;
    const scalar_t* __restrict__ gf = gi + hidden;
    const scalar_t* __restrict__ gg = gi + 2 * hidden;
    const scalar_t* __restrict__ go = gi + 3 * hidden;
    const scalar_t* __restrict__ cp = c_prev + b * hidden;
    const scalar_t* __restrict__ tc = tanh_c + b * hidden;
    const scalar_t* __restrict__ go_t = grad_out + b * hidden;
    const scalar_t* __restrict__ dhr = dh + b * hidden;
    scalar_t* __restrict__ dcr = dc + b * hidden;
    scalar_t* __restrict__ di = dpre + b * 4 * hidden;
    scalar_t* __restrict__ df = di + hidden;
    scalar_t* __restrict__ dg = di + 2 * hidden;
    scalar_t* __restrict__ dout = di + 3 * hidden;
    scalar_t* __restrict__ kept = kKeep ? keep + b * hidden : nullptr;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      const scalar_t i = gi[j], f = gf[j], g = gg[j], o = go[j], t = tc[j];
      const scalar_t dh_t = dhr[j] + go_t[j];
      if constexpr (kKeep) kept[j] = dh_t;
      const scalar_t dc_t = dcr[j] + dh_t * o * (scalar_t(1) - t * t);
      const scalar_t d_i = dc_t * g * i * (scalar_t(1) - i), d_f = dc_t * cp[j] * f * (scalar_t(1) - f),
                     d_g = dc_t * i * (scalar_t(1) - g * g), d_o = dh_t * t * o * (scalar_t(1) - o);
      di[j] = d_i;
      df[j] = d_f;
      dg[j] = d_g;
      dout[j] = d_o;
      dbi[j] += d_i;
      dbf[j] += d_f;
      dbg[j] += d_g;
      dbo[j] += d_o;
      dcr[j] = dc_t * f;
    }
  }
}

int64_t rows_at(const std::vector<int64_t>& batch_sizes, int64_t t, int64_t batch) {
  return batch_sizes.empty() ? batch : batch_sizes[t];
}

void check_batch_sizes(const std::vector<int64_t>& batch_sizes, int64_t steps, int64_t batch) {
  if (batch_sizes.empty()) return;
  TORCH_CHECK(static_cast<int64_t>(batch_sizes.size()) == steps, "batch_sizes must have one entry per step");
  for (int64_t t = 0; t < steps; ++t) {
    TORCH_CHECK(batch_sizes[t] >= 0 && batch_sizes[t] <= batch && (t == 0 || batch_sizes[t] <= batch_sizes[t - 1]),
                "batch_sizes must be non-increasing and within [0, batch]");
  }
}

// out (rows, n) = beta * out + a (rows, k) @ (b_transposed ? b (n, k)^T : b (k, n)), beta 0 or 1; every matrix
// row-major and contiguous. PyTorch's matmul, so the BLAS and thread count are the same as everywhere else.
template <typename scalar_t>
void matmul_rows(const scalar_t* a, const scalar_t* b, bool b_transposed, scalar_t* out, int64_t rows, int64_t n,
                 int64_t k, scalar_t beta) {
  const auto options = at::TensorOptions().dtype(c10::CppTypeToScalarType<scalar_t>::value);
  at::Tensor out_t = at::from_blob(out, {rows, n}, options);
  const at::Tensor a_t = at::from_blob(const_cast<scalar_t*>(a), {rows, k}, options);
  const at::Tensor b_t = b_transposed ? at::from_blob(const_cast<scalar_t*>(b), {n, k}, options).t()
                                      : at::from_blob(const_cast<scalar_t*>(b), {k, n}, options);
  if (beta == scalar_t(0)) {
    at::mm_out(out_t, a_t, b_t);
  } else {
    out_t.addmm_(a_t, b_t);
  }
}

// x (T,B,I), h0/c0 (B,H), w_ih (4H,I), w_hh (4H,H), bias (4H,) or none ->
// (hs (T+1,B,H), cs (T+1,B,H), gates (T,B,4H) activated, tanh_c (T,B,H), h_n (B,H), c_n (B,H)).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> lstm_forward(
    const at::Tensor& x_in, const at::Tensor& h0, const at::Tensor& c0, const at::Tensor& w_ih,
    const at::Tensor& w_hh_in, const std::optional<at::Tensor>& bias_in, at::IntArrayRef batch_sizes_ref) {
  TORCH_CHECK(x_in.device().is_cpu() && x_in.dim() == 3, "x must be a (T, B, I) CPU tensor");
  const at::Tensor x = x_in.contiguous(), w_hh = w_hh_in.contiguous();
  const int64_t steps = x.size(0), batch = x.size(1), n_in = x.size(2), hidden = w_hh.size(1);
  const std::vector<int64_t> batch_sizes(batch_sizes_ref.begin(), batch_sizes_ref.end());
  check_batch_sizes(batch_sizes, steps, batch);
  const at::Tensor bias = bias_in.has_value() && bias_in->defined() ? bias_in->contiguous()
                                                                    : at::zeros({4 * hidden}, x.options());
  at::Tensor gates = at::mm(x.view({steps * batch, n_in}), w_ih.t()).view({steps, batch, 4 * hidden});
  at::Tensor hs = at::empty({steps + 1, batch, hidden}, x.options());
  at::Tensor cs = at::empty({steps + 1, batch, hidden}, x.options());
  at::Tensor tanh_c = at::empty({steps, batch, hidden}, x.options());
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  const int64_t plane = batch * hidden;  // elements of one step of hs, cs, tanh_c
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_forward", [&] {
    scalar_t* g = gates.data_ptr<scalar_t>();
    scalar_t* h = hs.data_ptr<scalar_t>();
    scalar_t* c = cs.data_ptr<scalar_t>();
    scalar_t* tc = tanh_c.data_ptr<scalar_t>();
    const scalar_t* w = w_hh.data_ptr<scalar_t>();
    const scalar_t* b = bias.data_ptr<scalar_t>();
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t rows = rows_at(batch_sizes, t, batch);
      scalar_t* g_t = g + t * 4 * plane;
      scalar_t* h_next = h + (t + 1) * plane;
      scalar_t* c_next = c + (t + 1) * plane;
      if (rows < batch) {  // ended rows output zero; their final state is read from their own last step below
        std::fill(h_next + rows * hidden, h_next + plane, scalar_t(0));
        std::fill(c_next + rows * hidden, c_next + plane, scalar_t(0));
      }
      if (rows == 0) continue;
      matmul_rows<scalar_t>(h + t * plane, w, /*b_transposed=*/true, g_t, rows, 4 * hidden, hidden, 1);
      forward_step<scalar_t>(g_t, b, c + t * plane, c_next, tc + t * plane, h_next, rows, hidden);
    }
  });
  at::Tensor h_n, c_n;
  if (batch_sizes.empty()) {
    h_n = hs[steps].clone();
    c_n = cs[steps].clone();
  } else {  // row b's last step is the last t with batch_sizes[t] > b; rows of length 0 keep h0, c0
    h_n = h0.clone();
    c_n = c0.clone();
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t next = t + 1 < steps ? batch_sizes[t + 1] : 0;
      if (batch_sizes[t] > next) {
        h_n.narrow(0, next, batch_sizes[t] - next).copy_(hs[t + 1].narrow(0, next, batch_sizes[t] - next));
        c_n.narrow(0, next, batch_sizes[t] - next).copy_(cs[t + 1].narrow(0, next, batch_sizes[t] - next));
      }
    }
  }
  return {hs, cs, gates, tanh_c, h_n, c_n};
}

// Reverse loop: grad_out (T,B,H), grad_hn/grad_cn (B,H) and what the forward saved ->
// (dpre (T,B,4H): gradient of every step's gate pre-activations, its sum over steps and rows (the bias gradient),
// dh0 (B,H), dc0 (B,H)). The weight and input gradients are then single matmuls over all T*B rows of dpre.
// keep_dh: also return dh_steps (T,B,H), dL/dh_t of every step's active rows, zero elsewhere (introspection);
// else dh_steps is an empty tensor.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> lstm_backward(
    const at::Tensor& grad_out_in, const at::Tensor& grad_hn, const at::Tensor& grad_cn, const at::Tensor& w_hh_in,
    const at::Tensor& gates, const at::Tensor& cs, const at::Tensor& tanh_c, at::IntArrayRef batch_sizes_ref,
    bool keep_dh) {
  TORCH_CHECK(gates.is_contiguous() && cs.is_contiguous() && tanh_c.is_contiguous(), "pass what forward returned");
  const at::Tensor grad_out = grad_out_in.contiguous(), w_hh = w_hh_in.contiguous();
  const int64_t steps = gates.size(0), batch = gates.size(1), hidden = w_hh.size(1);
  const std::vector<int64_t> batch_sizes(batch_sizes_ref.begin(), batch_sizes_ref.end());
  check_batch_sizes(batch_sizes, steps, batch);
  at::Tensor dpre = batch_sizes.empty() ? at::empty({steps, batch, 4 * hidden}, gates.options())
                                        : at::zeros({steps, batch, 4 * hidden}, gates.options());
  at::Tensor db = at::zeros({4 * hidden}, gates.options());
  at::Tensor dh = grad_hn.contiguous().clone();  // recurrent part of dL/dh_t; rows that ended keep grad_hn
  at::Tensor dc = grad_cn.contiguous().clone();
  const bool keep = keep_dh;
  at::Tensor dh_steps = keep ? at::zeros_like(tanh_c) : at::empty({0}, gates.options());
  const int64_t plane = batch * hidden;
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward", [&] {
    scalar_t* kept = keep ? dh_steps.data_ptr<scalar_t>() : nullptr;
    const scalar_t* g = gates.data_ptr<scalar_t>();
    const scalar_t* c = cs.data_ptr<scalar_t>();
    const scalar_t* tc = tanh_c.data_ptr<scalar_t>();
    const scalar_t* go = grad_out.data_ptr<scalar_t>();
    const scalar_t* w = w_hh.data_ptr<scalar_t>();
    scalar_t* d = dpre.data_ptr<scalar_t>();
    scalar_t* dh_p = dh.data_ptr<scalar_t>();
    scalar_t* dc_p = dc.data_ptr<scalar_t>();
    scalar_t* db_p = db.data_ptr<scalar_t>();
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t rows = rows_at(batch_sizes, t, batch);
      if (rows == 0) continue;
      scalar_t* d_t = d + t * 4 * plane;
      if (keep) {
        backward_step<scalar_t, true>(g + t * 4 * plane, c + t * plane, tc + t * plane, go + t * plane, dh_p, dc_p,
                                      d_t, db_p, kept + t * plane, rows, hidden);
      } else {
        backward_step<scalar_t, false>(g + t * 4 * plane, c + t * plane, tc + t * plane, go + t * plane, dh_p, dc_p,
                                       d_t, db_p, nullptr, rows, hidden);
      }
      // dL/dh_{t-1} through the recurrence: dh[:rows] = dpre_t W_hh; rows that ended keep their dh
      matmul_rows<scalar_t>(d_t, w, /*b_transposed=*/false, dh_p, rows, hidden, 4 * hidden, 0);
    }
  });
  return {dpre, db, dh, dc, dh_steps};
}

}  // namespace

TORCH_LIBRARY(seqlab_lstm, m) {
  m.def("forward(Tensor x, Tensor h0, Tensor c0, Tensor w_ih, Tensor w_hh, Tensor? bias, int[] batch_sizes) -> "
        "(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)",
        &lstm_forward);
  m.def("backward(Tensor grad_out, Tensor grad_hn, Tensor grad_cn, Tensor w_hh, Tensor gates, Tensor cs, "
        "Tensor tanh_c, int[] batch_sizes, bool keep_dh=False) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
        &lstm_backward);
}
