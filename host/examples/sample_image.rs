//! Writes a photo-like test image (gradients and noise, which compress as a photo does) for the
//! image benchmark: `sample_image WIDTH HEIGHT OUT.{jpg,png}`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, width, height, out] = args.as_slice() else {
        eprintln!("usage: sample_image WIDTH HEIGHT OUT.jpg|OUT.png");
        return ExitCode::from(2);
    };
    let (Ok(width), Ok(height)) = (width.parse::<u32>(), height.parse::<u32>()) else {
        eprintln!("WIDTH and HEIGHT are whole numbers");
        return ExitCode::from(2);
    };
    let mut seed: u32 = 0x9e37_79b9;
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        // xorshift noise over gradients
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 32) as u8;
        let r = ((x * 255) / width.max(1)) as u8;
        let g = ((y * 255) / height.max(1)) as u8;
        image::Rgb([
            r.saturating_add(noise),
            g.saturating_add(noise),
            128u8.saturating_add(noise),
        ])
    });
    match image.save(out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cannot write {out}: {error}");
            ExitCode::FAILURE
        }
    }
}
