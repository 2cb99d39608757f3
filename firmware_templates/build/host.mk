# Host build of the portable C library (tests, bit-exactness checks): sanitizers on, markers and the
# DWT hook compile to nothing (nb_stage.h / nb_cycles.h detect a non-Arm compiler).
NB_HOST_CC ?= cc
NB_HOST_CFLAGS := -std=c99 -O1 -g -Wall -Wextra -Werror -fno-omit-frame-pointer -fsanitize=address,undefined
NB_HOST_LDFLAGS := -fsanitize=address,undefined -lm
