/**
 * The Glance (image) calls the driver makes. Every request asks for JSON: Glance's error
 * pages are HTML unless `Accept: application/json` is sent (the JSON client always sends it).
 */
import { malformedResponseError } from './errors.ts';
import { type OpenStackSession, query } from './session.ts';

/** The fields of a Glance image the driver reads. */
export interface GlanceImage {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly createdAt?: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

function toImage(value: unknown): GlanceImage | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const i = value as Record<string, unknown>;
  if (typeof i.id !== 'string') return undefined;
  return {
    id: i.id,
    name: typeof i.name === 'string' ? i.name : '',
    status: typeof i.status === 'string' ? i.status : 'queued',
    ...(typeof i.created_at === 'string' ? { createdAt: i.created_at } : {}),
    // Glance v2 puts custom properties (e.g. amphora_id) at the top level of the image.
    properties: i,
  };
}

/** Filters of an image listing, as Glance names them. */
export interface ImageQuery {
  readonly name?: string;
  readonly tag?: string;
  readonly status?: string;
  readonly owner?: string;
  /** e.g. `created_at:desc`. */
  readonly sort?: string;
  /** Stop after this many images (one page). */
  readonly limit?: number;
}

const PAGE = 200;

/** Glance, through an authenticated session. */
export class GlanceApi {
  private readonly session: OpenStackSession;

  constructor(session: OpenStackSession) {
    this.session = session;
  }

  /** One image. @throws NotFoundError when Glance does not know it. */
  async image(id: string, signal?: AbortSignal): Promise<GlanceImage> {
    const path = `/images/${encodeURIComponent(id)}`;
    const res = await this.session.request('image', { method: 'GET', path, signal });
    const image = toImage(res.body);
    if (!image)
      throw malformedResponseError(
        { service: 'image', method: 'GET', path },
        res.status,
        'no image',
      );
    return image;
  }

  /** Images matching the filters, across pages unless `limit` is given. */
  async images(filter: ImageQuery, signal?: AbortSignal): Promise<GlanceImage[]> {
    const images: GlanceImage[] = [];
    let marker: string | undefined;
    for (;;) {
      const path = `/images${query({
        name: filter.name,
        tag: filter.tag,
        status: filter.status,
        owner: filter.owner,
        sort: filter.sort,
        limit: filter.limit ?? PAGE,
        marker,
      })}`;
      const res = await this.session.request('image', { method: 'GET', path, signal });
      const body = res.body as { images?: unknown; next?: unknown } | undefined;
      if (!Array.isArray(body?.images)) {
        throw malformedResponseError(
          { service: 'image', method: 'GET', path },
          res.status,
          'no images list',
        );
      }
      const page = body.images.map(toImage).filter((i): i is GlanceImage => i !== undefined);
      images.push(...page);
      if (filter.limit !== undefined || typeof body.next !== 'string' || page.length === 0) {
        return images;
      }
      marker = page[page.length - 1]!.id;
    }
  }

  /** Deletes an image. @throws NotFoundError when already gone, DeleteFailedError when refused. */
  async deleteImage(id: string, signal?: AbortSignal): Promise<void> {
    await this.session.request('image', {
      method: 'DELETE',
      path: `/images/${encodeURIComponent(id)}`,
      signal,
      isDelete: true,
    });
  }
}
