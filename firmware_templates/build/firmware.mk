# Generic build of a noisebudget firmware image for one QEMU board with arm-none-eabi-gcc.
#
#   make -f $(NB_TEMPLATES)/build/firmware.mk NB_TEMPLATES=... NB_BOARD=mps2-an386 SRCS="..." [INCS=...] [OUT=build]
#   make -f ... run      # run on QEMU (semihosting output, exit code of main)
#
# Per-CPU flags come from build/cpu-<cpu>.mk, the memory map from boards/<board>/board.ld.
# convert/measure.py uses the same fragments (it reads NB_CPU_FLAGS from them).
NB_TEMPLATES ?= $(dir $(lastword $(MAKEFILE_LIST)))..
NB_BOARD ?= mps2-an386
include $(NB_TEMPLATES)/boards/$(NB_BOARD)/board.mk
include $(NB_TEMPLATES)/build/cpu-$(NB_BOARD_CPU).mk

CC := arm-none-eabi-gcc
OUT ?= build/$(NB_BOARD)
OPT ?= -O2
ELF ?= $(OUT)/app.elf
QEMU_TIMEOUT ?= 60

NB_COMMON := $(NB_TEMPLATES)/boards/common
CFLAGS += $(NB_CPU_FLAGS) $(OPT) -std=c99 -Wall -Wextra -Werror -ffunction-sections -fdata-sections \
          -fstack-usage -I$(NB_COMMON) $(addprefix -I,$(INCS))
LDFLAGS += $(NB_CPU_FLAGS) --specs=nano.specs --specs=rdimon.specs -nostartfiles \
           -T$(NB_TEMPLATES)/boards/$(NB_BOARD)/board.ld -L$(NB_COMMON) -Wl,--gc-sections

ALL_SRCS := $(SRCS) $(NB_COMMON)/nb_startup.c
OBJS := $(addprefix $(OUT)/obj/,$(addsuffix .o,$(notdir $(basename $(ALL_SRCS)))))

all: $(ELF)

$(ELF): $(ALL_SRCS)
	@mkdir -p $(OUT)/obj
	cd $(OUT)/obj && $(CC) $(CFLAGS) -c $(abspath $(ALL_SRCS))
	$(CC) $(LDFLAGS) -o $@ $(OBJS) -lm

run: $(ELF)
	timeout $(QEMU_TIMEOUT) qemu-system-arm -M $(NB_QEMU_MACHINE) -nographic -monitor none -serial none \
	    -semihosting-config enable=on,target=native -kernel $(ELF)

.PHONY: all run
