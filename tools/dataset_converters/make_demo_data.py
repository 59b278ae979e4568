"""Write the synthetic demo dataset (see vit_backbones/tools/demo_data.py).

    python tools/dataset_converters/make_demo_data.py [--root data/demo] [--seed 0]
"""
import argparse
import json

from vit_backbones.tools.demo_data import make_demo_data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--root', default='data/demo')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--tasks', nargs='+', default=['cls', 'det', 'seg'],
        choices=['cls', 'det', 'seg'])
    args = parser.parse_args(argv)
    summary = make_demo_data(args.root, args.seed, tuple(args.tasks))
    print(f'Wrote demo data to {args.root}: {json.dumps(summary)}')


if __name__ == '__main__':
    main()
