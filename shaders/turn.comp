#version 450
// The fast path of the copy shader (shaders/copy.comp) for what most
// transformed copies and window draws are: an unscaled copy that replaces
// whole words of a packed format with whole words of a packed format, or
// blends them over the destination's at alpha 1, under any of the eight
// transforms, where every 4×4 block of the
// clip lies on 16-byte boundaries in both buffers (src/copy/turn.rs checks
// that and works out the addresses). One invocation moves one 4×4 block:
// four 16-byte rows read, turned in registers, four 16-byte rows written.
// The code has no per-pixel path, no formats to decode and no branches on
// what a pixel holds, so that llvmpipe runs it as straight-line vector code.

// A workgroup is 256 blocks (GROUP and TILE in src/copy/turn.rs): a run
// along a destination row, or, where the transform transposes, 4 blocks
// across and 64 down, invocations going down first. Either way its blocks
// lie along the source's rows. (A workgroup shaped to a narrower clip, its
// invocations mapped to blocks by numbers the shader is given, ran the
// whole fast path about 1.5 times as long: llvmpipe then no longer sees
// that neighbouring invocations read neighbouring blocks.)
layout(local_size_x = 256, local_size_y = 1, local_size_z = 1) in;

// The bindings of copy.comp, so that both take the same descriptor set; only
// the 16-byte views of source plane 0 and the destination are used here.
layout(set = 0, binding = 3) readonly buffer SourceBlocks { uvec4 blocks[]; } src;
layout(set = 0, binding = 4) buffer DestinationBlocks { uvec4 blocks[]; } dst;

// over_pair, and with PARTS defined (turn-parts.comp.spv, build.rs) the
// dispatch's parts (binding 5). A part is a clip: its blocks across and
// down in `extent`, the 16-byte index of the first destination block's
// first row and that of the source row read first for it (a row of its
// top or bottom row) in `first`. Without PARTS, the dispatch writes one
// clip, given in the push constants: lavapipe runs that a quarter faster
// than one part read from the parameters.
#include "common.glsl"

// Every member is 4 bytes (Turn in src/copy/turn.rs).
layout(push_constant) uniform Job {
    // The one clip without PARTS (as a part's `extent` and `first`, and the
    // grid is its workgroups); with PARTS, unused.
    uint blocks_x;
    uint blocks_y;
    uint dst_first;
    uint src_first;
    // With PARTS, the workgroups of the dispatch's parts; unused without.
    uint groups;
    // The distance between destination rows, in 16-byte units.
    uint dst_row;
    // What a step of one block right or down in the destination adds to
    // the index of the source row read first.
    int src_block_x;
    int src_block_y;
    // Between the source rows read in order: plus or minus the stride.
    int src_row;
    // Non-zero: the destination's rows are the source block's columns.
    uint transpose;
    // Non-zero: each source row is reversed before any transposing.
    uint reverse;
    // The destination word is (w & keep) | ((w >> 16) & low) |
    // ((w & low) << 16) | set: red and blue swapped where `low` is 0xff,
    // the fourth byte set to 0xff where `set` is 0xff000000.
    uint keep;
    uint low;
    uint set;
    // 0: the words replace the destination's. 1: they are blended over
    // the destination's (premultiplied, as copy.comp's over_words). 2: over
    // `below`, which the destination holds throughout the clip, without
    // reading it.
    uint over;
    uint below;
    // Or-ed into each blended word: 0xff000000 for an X destination.
    uint opaque;
} job;

uvec4 convert(uvec4 w) {
    return (w & uvec4(job.keep)) | ((w >> 16u) & uvec4(job.low)) | ((w & uvec4(job.low)) << 16u)
        | uvec4(job.set);
}

// The source words `s` (converted) over the destination's `d`.
uvec4 blend(uvec4 s, uvec4 d) {
    uvec4 inverse = uvec4(255u) - (s >> 24u);
    uvec4 low = uvec4(0x00ff00ffu);
    uvec4 rb = over_pair(s & low, d & low, inverse);
    uvec4 ga = over_pair((s >> 8u) & low, (d >> 8u) & low, inverse);
    return rb | (ga << 8u) | uvec4(job.opaque);
}

// Writes the converted source row `s` to destination block row `at`.
void put(uint at, uvec4 s) {
    if (job.over == 0u) {
        dst.blocks[at] = s;
        return;
    }
    uvec4 d = job.over == 1u ? dst.blocks[at] : uvec4(job.below);
    dst.blocks[at] = blend(s, d);
}

void main() {
#ifdef PARTS
    Part part;
    uvec2 place;
    if (!find_part(job.groups, part, place)) {
        return;
    }
    uvec2 blocks = uvec2(part.extent);
    uvec2 first = part.first;
#else
    uvec2 place = gl_WorkGroupID.xy;
    uvec2 blocks = uvec2(job.blocks_x, job.blocks_y);
    uvec2 first = uvec2(job.dst_first, job.src_first);
#endif
    uint invocation = gl_LocalInvocationID.x;
    uvec2 block = job.transpose != 0u
        ? uvec2(place.x * 4u + invocation / 64u, place.y * 64u + invocation % 64u)
        : uvec2(place.x * 256u + invocation, place.y);
    // The blocks are visited in the order of the source's addresses: where
    // a step right or down in the destination steps back in the source,
    // the workgroups count from the other end. (Past the end, the count
    // wraps around and the bounds check below drops the invocation.)
    if (job.src_block_x < 0) {
        block.x = blocks.x - 1u - block.x;
    }
    if (job.src_block_y < 0) {
        block.y = blocks.y - 1u - block.y;
    }
    if (block.x >= blocks.x || block.y >= blocks.y) {
        return;
    }
    int at = int(first.y) + int(block.x) * job.src_block_x + int(block.y) * job.src_block_y;
    uvec4 r0 = src.blocks[uint(at)];
    uvec4 r1 = src.blocks[uint(at + job.src_row)];
    uvec4 r2 = src.blocks[uint(at + 2 * job.src_row)];
    uvec4 r3 = src.blocks[uint(at + 3 * job.src_row)];
    if (job.reverse != 0u) {
        r0 = r0.wzyx;
        r1 = r1.wzyx;
        r2 = r2.wzyx;
        r3 = r3.wzyx;
    }
    if (job.transpose != 0u) {
        uvec4 t0 = uvec4(r0.x, r1.x, r2.x, r3.x);
        uvec4 t1 = uvec4(r0.y, r1.y, r2.y, r3.y);
        uvec4 t2 = uvec4(r0.z, r1.z, r2.z, r3.z);
        uvec4 t3 = uvec4(r0.w, r1.w, r2.w, r3.w);
        r0 = t0;
        r1 = t1;
        r2 = t2;
        r3 = t3;
    }
    uint row = first.x + block.y * 4u * job.dst_row + block.x;
    put(row, convert(r0));
    put(row + job.dst_row, convert(r1));
    put(row + 2u * job.dst_row, convert(r2));
    put(row + 3u * job.dst_row, convert(r3));
}
