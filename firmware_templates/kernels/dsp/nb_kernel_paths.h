/* nb_kernel_paths.h - which paths the optimized kernel variants (kernels/dsp, kernels/mve) compile.
 *
 * This default defines nothing: every variant file then compiles all of its paths (each switch defaults to 1
 * in the file that reads it). A generated project replaces it (nb/target/dsp/nb_kernel_paths.h) with the
 * switches of its model (convert.kernel_variants.path_switches: 1 when any op of the model could take the path,
 * 0 otherwise), so a streaming model's firmware does not link the many-output-position paths it never takes:
 *   NB_DSP_CONV2D_BLOCKED  dsp/nb_conv2d_dsp.c: g42 / w16 blocked paths (>= 4 output positions, no groups)
 *   NB_DSP_DW_PLANAR       dsp/nb_depthwise_conv2d_dsp.c: 3x3 stride-1 planar path (more than 3 positions)
 *   NB_DSP_DW_TABLED       dsp/nb_depthwise_conv2d_dsp.c: tabled path (calls the direct path does not take)
 *   NB_MVE_CONV2D_BLOCKED  mve/nb_conv2d_mve.c: blocked path (>= 4 output positions incl. batch, no groups)
 *   NB_MVE_DW_WINDOW       mve/nb_depthwise_conv2d_mve.c: <= 3x3 stride-1 4x4-window path
 *   NB_MVE_DW_GENERAL      mve/nb_depthwise_conv2d_mve.c: 8-channel path (calls the direct path does not take)
 * A path compiled out falls back to the next one (at worst the reference loop): still bit-exact, only slower.
 * Each may also be set on the command line (-DNB_DSP_DW_PLANAR=0). */
#ifndef NB_KERNEL_PATHS_H
#define NB_KERNEL_PATHS_H
#endif /* NB_KERNEL_PATHS_H */
