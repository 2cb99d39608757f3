/* nb_avg_pool2d.c - int8 AVERAGE_POOL_2D, see nb_avg_pool2d.h. */
#include "nb_avg_pool2d.h"

int nb_avg_pool2d(const nb_avg_pool2d_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, depth = p->in.c;
    int32_t b, oy, ox, c, fy, fx;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_h;
            const int32_t fy_start = nb_max_i32(0, -in_y0);
            const int32_t fy_end = nb_min_i32(p->filter_h, in_h - in_y0);
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_w;
                const int32_t fx_start = nb_max_i32(0, -in_x0);
                const int32_t fx_end = nb_min_i32(p->filter_w, in_w - in_x0);
                for (c = 0; c < depth; ++c) {
                    int32_t acc = 0;
                    int32_t count = 0;
                    for (fy = fy_start; fy < fy_end; ++fy) {
                        for (fx = fx_start; fx < fx_end; ++fx) {
                            acc += input[((b * in_h + in_y0 + fy) * in_w + in_x0 + fx) * depth + c];
                            ++count;
                        }
                    }
                    if (count == 0) {
                        return -1;
                    }
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    acc = nb_clamp_i32(acc, p->act_min, p->act_max);
                    output[((b * p->out.h + oy) * p->out.w + ox) * depth + c] = (int8_t)acc;
                }
            }
        }
    }
    return 0;
}
