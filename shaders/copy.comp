#version 450
// The copy job and the draws of a frame (src/copy/job.rs, batch.rs): one
// invocation per 4×4 block of the clip rectangle (a copy's clip is its
// destination rectangle), or of each of several clips that share
// everything else, a part each (common.glsl). For each pixel it finds the source coordinate
// with the plan's destination-to-source matrix, samples as
// src/copy/reference.rs defines (nearest, or bilinear clamped to the source
// rectangle) or takes the solid colour, multiplies by the alpha, blends over
// the destination pixel when asked to (premultiplied: src + dst * (1 -
// src.a)), converts the format and stores one packed pixel. Pixels outside
// the clip rectangle are never written.
//
// Both buffers are storage buffers of 32-bit words addressed in bytes, so any
// plane offset and stride works: a source pixel that straddles two words is
// put together from both. The destination's offset and stride are multiples
// of 4 (the executor checks), so each pixel is one whole word and no two
// invocations write the same word. Where rows start on 16-byte boundaries,
// a block's rows move as 16-byte vectors (main, word_block below).

layout(local_size_x = 8, local_size_y = 8, local_size_z = 1) in;

// Plane 0 of the source: the packed pixels, or NV12's luma.
layout(set = 0, binding = 0) readonly buffer SourcePlane0 { uint words[]; } src0;
// Plane 1 of the source: NV12's interleaved Cb, Cr. Bound to plane 0's
// buffer for packed sources and never read then.
layout(set = 0, binding = 1) readonly buffer SourcePlane1 { uint words[]; } src1;
layout(set = 0, binding = 2) buffer Destination { uint words[]; } dst;
// Plane 0 of the source and the destination again, as 16-byte vectors: the
// same bytes, bound twice, so that a block's rows are read and written
// whole where they lie on 16-byte boundaries.
layout(set = 0, binding = 3) readonly buffer SourceBlocks { uvec4 blocks[]; } src0_blocks;
layout(set = 0, binding = 4) buffer DestinationBlocks { uvec4 blocks[]; } dst_blocks;

// The dispatch's parts (binding 5) and over_pair.
#include "common.glsl"

// Every member is 4 bytes, an 8-byte vector at a multiple of 8 or a 16-byte
// vector at a multiple of 16, so std140 and std430 agree and the Rust side
// (PushConstants in src/copy/layout.rs) writes them one after the other:
// 116 bytes, within the 128 of the smallest maxPushConstantsSize Vulkan
// allows.
layout(push_constant) uniform Job {
    // CopyPlan::matrix, column by column: src = m0 * x + m1 * y + m2 for the
    // point (x, y) relative to the destination rectangle.
    vec2 m0;
    vec2 m1;
    vec2 m2;
    // The destination rectangle, absolute: the matrix's origin. It may reach
    // outside the buffer; only the clip rectangle is written.
    ivec2 dst_origin;
    ivec2 dst_extent;
    // The source rectangle, absolute: samples are clamped into it.
    ivec2 src_origin;
    ivec2 src_extent;
    // Byte offsets and strides of the planes in their buffers.
    uint src_offset0;
    uint src_stride0;
    uint src_offset1;
    uint src_stride1;
    uint dst_offset;
    uint dst_stride;
    // FORMAT_* below.
    uint src_format;
    uint dst_format;
    // MODE_* bits below.
    uint mode;
    // Multiplies the premultiplied source.
    float alpha;
    // The premultiplied colour (0-255) of a FORMAT_SOLID source.
    vec4 colour;
    // The workgroups of the dispatch's parts (common.glsl), each part a
    // clip: the pixels written, absolute, inside the buffer and the
    // destination rectangle.
    uint groups;
} job;

const uint FORMAT_ARGB8888 = 0u;
const uint FORMAT_XRGB8888 = 1u;
const uint FORMAT_ABGR8888 = 2u;
const uint FORMAT_XBGR8888 = 3u;
const uint FORMAT_NV12 = 4u;
// No source buffer: every sample is job.colour.
const uint FORMAT_SOLID = 5u;

// Sample bilinearly (else nearest).
const uint MODE_LINEAR = 1u;
// Blend over the destination (else replace it).
const uint MODE_OVER = 2u;
// Nearest texels of a packed source at alpha 1 (a copy, or a draw that
// replaces the destination or, with MODE_OVER, blends over it in integers:
// over_words): each destination word is the source word under the pixel,
// its red and blue bytes swapped between ARGB and ABGR orders and its fourth
// byte set to 0xff where one format is an X format and the other is not
// (between two X formats the padding moves with its pixel). This is what
// src/copy/reference.rs defines for such a copy, without the general path's
// per-channel arithmetic.
const uint MODE_WORDS = 4u;
// With MODE_OVER: the destination holds job.colour in every pixel of the
// clip (a fill of the same batch that leaves the clip out: src/copy/batch.rs),
// so the blend goes over that colour's word and the destination is not
// read.
const uint MODE_ONTO_COLOUR = 8u;

// BT.601 limited range to R'G'B' on the 0-255 scale, the reference's matrix
// derived the way the reference derives it: luma 16-235, chroma 16-240
// around 128, weights KR and KB (ITU-R BT.601, section 2.5.1).
const float KR = 0.299;
const float KB = 0.114;
const float KG = 1.0 - KR - KB;
const float Y_SCALE = 255.0 / 219.0;
const float C_SCALE = 255.0 / 224.0;
const float CR_TO_R = C_SCALE * 2.0 * (1.0 - KR);
const float CB_TO_G = C_SCALE * 2.0 * KB * (1.0 - KB) / KG;
const float CR_TO_G = C_SCALE * 2.0 * KR * (1.0 - KR) / KG;
const float CB_TO_B = C_SCALE * 2.0 * (1.0 - KB);

// The 32-bit little-endian word at byte `addr` of source plane 0, from one
// or two stored words.
uint source_word(uint addr) {
    uint i = addr >> 2u;
    uint shift = (addr & 3u) * 8u;
    uint low = src0.words[i];
    if (shift == 0u) {
        return low;
    }
    return (low >> shift) | (src0.words[i + 1u] << (32u - shift));
}

uint plane0_byte(uint addr) {
    return (src0.words[addr >> 2u] >> ((addr & 3u) * 8u)) & 255u;
}

uint plane1_byte(uint addr) {
    return (src1.words[addr >> 2u] >> ((addr & 3u) * 8u)) & 255u;
}

// R, G, B, A (0-255) of a packed pixel; X formats read as opaque.
vec4 decode(uint word, uint format) {
    vec4 bgra = vec4(
        float(word & 255u),
        float((word >> 8u) & 255u),
        float((word >> 16u) & 255u),
        float(word >> 24u));
    vec4 rgba = bgra.zyxw;
    if (format == FORMAT_ABGR8888 || format == FORMAT_XBGR8888) {
        rgba = bgra;
    }
    if (format == FORMAT_XRGB8888 || format == FORMAT_XBGR8888) {
        rgba.w = 255.0;
    }
    return rgba;
}

// Rust's f32::round for values that are not negative: halves round up.
float round_half_up(float v) {
    float whole = floor(v);
    if (v - whole >= 0.5) {
        whole += 1.0;
    }
    return whole;
}

// The packed word of R, G, B, A (0-255, unrounded); X formats store 0xff.
uint encode(vec4 rgba, uint format) {
    uvec4 c = uvec4(clamp(vec4(
        round_half_up(rgba.x),
        round_half_up(rgba.y),
        round_half_up(rgba.z),
        round_half_up(rgba.w)), 0.0, 255.0));
    if (format == FORMAT_XRGB8888 || format == FORMAT_XBGR8888) {
        c.w = 255u;
    }
    if (format == FORMAT_ABGR8888 || format == FORMAT_XBGR8888) {
        return c.x | (c.y << 8u) | (c.z << 16u) | (c.w << 24u);
    }
    return c.z | (c.y << 8u) | (c.x << 16u) | (c.w << 24u);
}

// R, G, B, A (0-255) of the source pixel at `p`, which lies in the source
// rectangle.
vec4 texel(ivec2 p) {
    uint x = uint(p.x);
    uint y = uint(p.y);
    if (job.src_format == FORMAT_NV12) {
        float luma = float(plane0_byte(job.src_offset0 + y * job.src_stride0 + x));
        uint pair = job.src_offset1 + (y >> 1u) * job.src_stride1 + (x >> 1u) * 2u;
        float cb = float(plane1_byte(pair)) - 128.0;
        float cr = float(plane1_byte(pair + 1u)) - 128.0;
        float l = Y_SCALE * (luma - 16.0);
        vec3 rgb = vec3(
            l + CR_TO_R * cr,
            l - CB_TO_G * cb - CR_TO_G * cr,
            l + CB_TO_B * cb);
        return vec4(clamp(rgb, 0.0, 255.0), 255.0);
    }
    return decode(source_word(job.src_offset0 + y * job.src_stride0 + x * 4u), job.src_format);
}

// The source word `word` with its red and blue bytes in the destination's
// order (MODE_WORDS). Formats 0-3: bit 1 is the channel order.
uvec4 swap_channels(uvec4 words) {
    if (((job.src_format ^ job.dst_format) & 2u) != 0u) {
        words = (words & uvec4(0xff00ff00u)) | ((words >> 16u) & uvec4(0xffu))
            | ((words & uvec4(0xffu)) << 16u);
    }
    return words;
}

// The destination words of source words already in its channel order, in
// a copy that replaces the destination (MODE_WORDS without MODE_OVER):
// the fourth byte set to 0xff where one format is an X format and the
// other is not (bit 0 of formats 0-3); between two X formats the padding
// moves with its pixel.
uvec4 replace_words(uvec4 words) {
    if (((job.src_format ^ job.dst_format) & 1u) != 0u) {
        words |= uvec4(0xff000000u);
    }
    return words;
}

// Where the centre of the destination pixel `p` samples the source.
vec2 source_coord(ivec2 p) {
    vec2 centre = vec2(p - job.dst_origin) + vec2(0.5);
    return job.m0 * centre.x + job.m1 * centre.y + job.m2;
}

// The source word under the destination pixel `p` (MODE_WORDS).
uint source_word_at(ivec2 s) {
    ivec2 lo = job.src_origin;
    ivec2 hi = job.src_origin + job.src_extent - ivec2(1);
    s = clamp(s, lo, hi);
    return source_word(job.src_offset0 + uint(s.y) * job.src_stride0 + uint(s.x) * 4u);
}

// The premultiplied R, G, B, A (0-255, unrounded) the destination pixel `p`
// gets from the source, before any blending.
vec4 shade(ivec2 p) {
    vec4 rgba;
    if (job.src_format == FORMAT_SOLID) {
        rgba = job.colour;
    } else {
        vec2 c = source_coord(p);
        ivec2 lo = job.src_origin;
        ivec2 hi = job.src_origin + job.src_extent - ivec2(1);
        if ((job.mode & MODE_LINEAR) == 0u) {
            rgba = texel(clamp(ivec2(floor(c)), lo, hi));
        } else {
            vec2 t = c - vec2(0.5);
            vec2 first = floor(t);
            vec2 f = t - first;
            ivec2 p0 = clamp(ivec2(first), lo, hi);
            ivec2 p1 = clamp(ivec2(first) + ivec2(1), lo, hi);
            vec4 top_left = texel(p0);
            vec4 top_right = texel(ivec2(p1.x, p0.y));
            vec4 bottom_left = texel(ivec2(p0.x, p1.y));
            vec4 bottom_right = texel(p1);
            vec4 top = top_left * (1.0 - f.x) + top_right * f.x;
            vec4 bottom = bottom_left * (1.0 - f.x) + bottom_right * f.x;
            rgba = top * (1.0 - f.y) + bottom * f.y;
        }
    }
    // Exact for a copy, whose alpha is 1.
    return rgba * job.alpha;
}

// Premultiplied "over" of four source words `s`, in the destination's
// channel order, onto the destination's words `d`, in integers: each
// channel is s + d × (255 − s.alpha) / 255, rounded to nearest, at most
// 255 (over_pair in common.glsl). That sum never lies on a half (255 is
// odd), so this is what the float path's round_half_up makes of it. An X
// source is opaque; an X destination stores 0xff.

uvec4 over_words(uvec4 s, uvec4 d) {
    if ((job.src_format & 1u) != 0u) {
        s |= uvec4(0xff000000u);
    }
    uvec4 inverse = uvec4(255u) - (s >> 24u);
    // Two channels at a time, each in its own 16 bits: red and blue, then
    // green and alpha.
    uvec4 low = uvec4(0x00ff00ffu);
    uvec4 rb = over_pair(s & low, d & low, inverse);
    uvec4 ga = over_pair((s >> 8u) & low, (d >> 8u) & low, inverse);
    uvec4 words = rb | (ga << 8u);
    if ((job.dst_format & 1u) != 0u) {
        words |= uvec4(0xff000000u);
    }
    return words;
}

// The word the destination pixel `p` gets where it holds `under`.
uint pixel_word(ivec2 p, uint under) {
    if ((job.mode & MODE_WORDS) != 0u) {
        uvec4 word = swap_channels(uvec4(source_word_at(ivec2(floor(source_coord(p))))));
        if ((job.mode & MODE_OVER) != 0u) {
            return over_words(word, uvec4(under)).x;
        }
        return replace_words(word).x;
    }
    vec4 rgba = shade(p);
    if ((job.mode & MODE_OVER) != 0u) {
        rgba = rgba + decode(under, job.dst_format) * (1.0 - rgba.w / 255.0);
    }
    return encode(rgba, job.dst_format);
}

// Writes the destination pixel `p`, which lies in the clip rectangle;
// `below` is the word under it where the destination is not read
// (MODE_ONTO_COLOUR).
void write_pixel(ivec2 p, uint below) {
    uint i = (job.dst_offset + uint(p.y) * job.dst_stride + uint(p.x) * 4u) >> 2u;
    uint under = below;
    if ((job.mode & (MODE_OVER | MODE_ONTO_COLOUR)) == MODE_OVER) {
        under = dst.words[i];
    }
    dst.words[i] = pixel_word(p, under);
}

// The source words of the 4×4 destination block at `corner` (MODE_WORDS),
// row by row, in the destination's channel order. An unscaled draw (a matrix of
// unit steps) maps the block onto a 4×4 block of the source, turned and mirrored by the transform: its four rows are read (as
// four vectors where they lie on 16-byte boundaries inside the source
// rectangle, else word by word and clamped, as write_pixel reads), turned
// into the destination's rows with red and blue in its order.
void word_block(ivec2 corner, out uvec4 b0, out uvec4 b1, out uvec4 b2, out uvec4 b3) {
    vec2 c0 = source_coord(corner);
    vec2 c1 = source_coord(corner + ivec2(3));
    // The source block's top-left pixel: the map is a step of one pixel
    // along an axis per destination pixel.
    ivec2 s = ivec2(floor(min(c0, c1)));
    ivec2 lo = job.src_origin;
    ivec2 hi = job.src_origin + job.src_extent - ivec2(4);
    if ((s.x & 3) == 0 && (job.src_offset0 & 15u) == 0u && (job.src_stride0 & 15u) == 0u
        && all(greaterThanEqual(s, lo)) && all(lessThanEqual(s, hi))) {
        uint at = (job.src_offset0 + uint(s.y) * job.src_stride0 + uint(s.x) * 4u) >> 4u;
        uint row = job.src_stride0 >> 4u;
        b0 = src0_blocks.blocks[at];
        b1 = src0_blocks.blocks[at + row];
        b2 = src0_blocks.blocks[at + 2u * row];
        b3 = src0_blocks.blocks[at + 3u * row];
    } else {
        uvec4 rows[4];
        for (int r = 0; r < 4; r++) {
            rows[r] = uvec4(source_word_at(s + ivec2(0, r)), source_word_at(s + ivec2(1, r)),
                source_word_at(s + ivec2(2, r)), source_word_at(s + ivec2(3, r)));
        }
        b0 = rows[0];
        b1 = rows[1];
        b2 = rows[2];
        b3 = rows[3];
    }
    // A transform that swaps the axes: destination rows follow source
    // columns, so the block is transposed first.
    bool swap = abs(job.m0.x) < 0.5;
    if (swap) {
        uvec4 t0 = uvec4(b0.x, b1.x, b2.x, b3.x);
        uvec4 t1 = uvec4(b0.y, b1.y, b2.y, b3.y);
        uvec4 t2 = uvec4(b0.z, b1.z, b2.z, b3.z);
        uvec4 t3 = uvec4(b0.w, b1.w, b2.w, b3.w);
        b0 = t0;
        b1 = t1;
        b2 = t2;
        b3 = t3;
    }
    // Mirrored along the destination's rows: each row reversed.
    if ((swap ? job.m0.y : job.m0.x) < 0.0) {
        b0 = b0.wzyx;
        b1 = b1.wzyx;
        b2 = b2.wzyx;
        b3 = b3.wzyx;
    }
    // Mirrored along its columns: the rows in reverse order.
    if ((swap ? job.m1.x : job.m1.y) < 0.0) {
        uvec4 t = b0;
        b0 = b3;
        b3 = t;
        t = b1;
        b1 = b2;
        b2 = t;
    }
    b0 = swap_channels(b0);
    b1 = swap_channels(b1);
    b2 = swap_channels(b2);
    b3 = swap_channels(b3);
}

// Each invocation writes a 4×4 block of destination pixels. Blocks lie on
// a grid of multiples of 4 in destination pixels, from the clip
// rectangle's origin rounded down. Where invocations run on a CPU
// (lavapipe), each has a fixed cost, which 16 pixels share. An unscaled
// draw of whole words (MODE_WORDS) whose block lies wholly in the clip
// rectangle of a destination whose rows start on 16-byte boundaries moves
// the block's rows as vectors; every other block is written pixel by
// pixel, in one loop, so that the per-pixel path is compiled once (lavapipe
// compiles the shader in every process that uses it).
void main() {
    Part part;
    uvec2 place;
    if (!find_part(job.groups, part, place)) {
        return;
    }
    ivec2 clip_origin = part.origin;
    ivec2 clip_end = part.origin + part.extent;
    uvec2 invocation = place * 8u + gl_LocalInvocationID.xy;
    ivec2 corner = ((clip_origin >> 2) << 2) + ivec2(invocation) * 4;
    if (any(greaterThanEqual(corner, clip_end))) {
        return;
    }
    // The word a fill of job.colour left under the clip (MODE_ONTO_COLOUR).
    uint below = encode(job.colour, job.dst_format);
    bool whole = all(greaterThanEqual(corner, clip_origin))
        && all(lessThanEqual(corner + ivec2(4), clip_end));
    // Unit steps: an unscaled draw, under any transform.
    bool unit = abs(job.m0.x) + abs(job.m0.y) == 1.0 && abs(job.m1.x) + abs(job.m1.y) == 1.0;
    if (whole && unit && (job.mode & MODE_WORDS) != 0u && (job.dst_offset & 15u) == 0u
        && (job.dst_stride & 15u) == 0u) {
        uint first = (job.dst_offset + uint(corner.y) * job.dst_stride + uint(corner.x) * 4u) >> 4u;
        uint step = job.dst_stride >> 4u;
        uvec4 r0;
        uvec4 r1;
        uvec4 r2;
        uvec4 r3;
        word_block(corner, r0, r1, r2, r3);
        if ((job.mode & MODE_OVER) != 0u) {
            uvec4 d0 = uvec4(below);
            uvec4 d1 = d0;
            uvec4 d2 = d0;
            uvec4 d3 = d0;
            if ((job.mode & MODE_ONTO_COLOUR) == 0u) {
                d0 = dst_blocks.blocks[first];
                d1 = dst_blocks.blocks[first + step];
                d2 = dst_blocks.blocks[first + 2u * step];
                d3 = dst_blocks.blocks[first + 3u * step];
            }
            r0 = over_words(r0, d0);
            r1 = over_words(r1, d1);
            r2 = over_words(r2, d2);
            r3 = over_words(r3, d3);
        } else {
            r0 = replace_words(r0);
            r1 = replace_words(r1);
            r2 = replace_words(r2);
            r3 = replace_words(r3);
        }
        dst_blocks.blocks[first] = r0;
        dst_blocks.blocks[first + step] = r1;
        dst_blocks.blocks[first + 2u * step] = r2;
        dst_blocks.blocks[first + 3u * step] = r3;
        return;
    }
    for (uint k = 0u; k < 16u; k++) {
        ivec2 p = corner + ivec2(int(k & 3u), int(k >> 2u));
        if (all(greaterThanEqual(p, clip_origin)) && all(lessThan(p, clip_end))) {
            write_pixel(p, below);
        }
    }
}
