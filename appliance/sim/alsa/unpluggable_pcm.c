/*
 * An ALSA capture PCM that can be unplugged, for `hookline simulate`.
 *
 * ALSA's own `file` plugin keeps returning stale samples when its input ends, so it cannot
 * play a USB interface being pulled out. This external (ioplug) PCM reads raw S16_LE frames
 * from a FIFO and behaves like a hot-pluggable card:
 *   - open fails with -ENODEV while the FIFO path does not exist (card not present);
 *   - reads block until frames arrive, as on a sound card;
 *   - when the writer closes the FIFO, the PCM becomes DISCONNECTED and reads fail with
 *     -ENODEV, as snd-usb-audio does after an unplug.
 *
 * Config:  pcm.NAME { type hookline_unpluggable  path "/x/line1.fifo"  rate 8000  channels 2 }
 * with     pcm_type.hookline_unpluggable { lib "/x/libasound_module_pcm_hookline_unpluggable.so" }
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>

typedef struct {
	snd_pcm_ioplug_t io;
	int fd;
	unsigned int frame_bytes;
	unsigned char *staged;          /* frames read from the FIFO, not yet taken by the reader */
	size_t staged_bytes, capacity;  /* capacity: one frame less than the buffer */
	snd_pcm_uframes_t hw;           /* frames made available since prepare */
	int eof;                        /* the writer closed the FIFO */
} unpluggable_t;

/* Unplugged once the writer has gone and every frame it wrote has been read. */
static int check_unplugged(unpluggable_t *u)
{
	if (u->eof && u->staged_bytes < u->frame_bytes)
		snd_pcm_ioplug_set_state(&u->io, SND_PCM_STATE_DISCONNECTED);
	return u->io.state == SND_PCM_STATE_DISCONNECTED;
}

/* Move what the FIFO holds into the staging buffer; notice the writer going away. */
static void fill(unpluggable_t *u)
{
	while (u->staged_bytes < u->capacity) {
		size_t want = u->capacity - u->staged_bytes;
		ssize_t n = read(u->fd, u->staged + u->staged_bytes, want);
		if (n > 0) {
			size_t before = u->staged_bytes / u->frame_bytes;
			u->staged_bytes += (size_t)n;
			u->hw += u->staged_bytes / u->frame_bytes - before;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			u->eof = 1;   /* the interface was unplugged */
		return;
	}
}

static snd_pcm_sframes_t unpluggable_pointer(snd_pcm_ioplug_t *io)
{
	unpluggable_t *u = io->private_data;
	/* Never negative: ioplug would turn that into an xrun. A disconnected state makes the
	 * next wait or read fail with -ENODEV instead. */
	if (!u->eof)
		fill(u);
	check_unplugged(u);
	return u->hw % io->buffer_size;
}

static snd_pcm_sframes_t unpluggable_transfer(snd_pcm_ioplug_t *io, const snd_pcm_channel_area_t *areas,
					      snd_pcm_uframes_t offset, snd_pcm_uframes_t size)
{
	unpluggable_t *u = io->private_data;
	size_t whole = u->staged_bytes / u->frame_bytes;
	if (size > whole)
		size = whole;
	size_t bytes = size * u->frame_bytes;
	/* RW interleaved: channel 0's area addresses whole frames. */
	memcpy((char *)areas[0].addr + (areas[0].first + areas[0].step * offset) / 8, u->staged, bytes);
	memmove(u->staged, u->staged + bytes, u->staged_bytes - bytes);
	u->staged_bytes -= bytes;
	check_unplugged(u);
	return size;
}

static int unpluggable_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds,
				    unsigned short *revents)
{
	unpluggable_t *u = io->private_data;
	(void)nfds;
	*revents = pfd[0].revents & POLLIN;
	if (pfd[0].revents & (POLLHUP | POLLERR)) {
		if (!u->eof)
			fill(u);   /* take what is left */
		*revents = check_unplugged(u) ? POLLERR : POLLIN;
	}
	return 0;
}

static int unpluggable_hw_params(snd_pcm_ioplug_t *io, snd_pcm_hw_params_t *params)
{
	unpluggable_t *u = io->private_data;
	(void)params;
	u->frame_bytes = io->channels * 2;
	u->capacity = (io->buffer_size - 1) * u->frame_bytes;
	free(u->staged);
	u->staged = malloc(u->capacity);
	u->staged_bytes = 0;
	return u->staged ? 0 : -ENOMEM;
}

static int unpluggable_prepare(snd_pcm_ioplug_t *io)
{
	unpluggable_t *u = io->private_data;
	u->hw = u->staged_bytes / (u->frame_bytes ? u->frame_bytes : 1);
	return 0;
}

static int unpluggable_start(snd_pcm_ioplug_t *io) { (void)io; return 0; }
static int unpluggable_stop(snd_pcm_ioplug_t *io) { (void)io; return 0; }

static int unpluggable_close(snd_pcm_ioplug_t *io)
{
	unpluggable_t *u = io->private_data;
	close(u->fd);
	free(u->staged);
	free(u);
	return 0;
}

static const snd_pcm_ioplug_callback_t callbacks = {
	.start = unpluggable_start,
	.stop = unpluggable_stop,
	.pointer = unpluggable_pointer,
	.transfer = unpluggable_transfer,
	.close = unpluggable_close,
	.hw_params = unpluggable_hw_params,
	.prepare = unpluggable_prepare,
	.poll_revents = unpluggable_poll_revents,
};

SND_PCM_PLUGIN_DEFINE_FUNC(hookline_unpluggable)
{
	snd_config_iterator_t i, next;
	const char *path = NULL;
	long rate = 8000, channels = 2;
	int err;

	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id;
		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint"))
			continue;
		if (!strcmp(id, "path") && snd_config_get_string(n, &path) == 0)
			continue;
		if (!strcmp(id, "rate") && snd_config_get_integer(n, &rate) == 0)
			continue;
		if (!strcmp(id, "channels") && snd_config_get_integer(n, &channels) == 0)
			continue;
		SNDERR("hookline_unpluggable: unknown or malformed field %s", id);
		return -EINVAL;
	}
	if (!path) {
		SNDERR("hookline_unpluggable: path is not set");
		return -EINVAL;
	}
	if (stream != SND_PCM_STREAM_CAPTURE)
		return -EINVAL;

	unpluggable_t *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	/* Blocks until the simulator opens the other end: the card powering up. */
	u->fd = open(path, O_RDONLY);
	if (u->fd < 0) {
		free(u);
		return -ENODEV;   /* not plugged in */
	}
	fcntl(u->fd, F_SETFL, fcntl(u->fd, F_GETFL) | O_NONBLOCK);

	u->io.version = SND_PCM_IOPLUG_VERSION;
	u->io.name = "Hookline simulated interface (unpluggable)";
	u->io.callback = &callbacks;
	u->io.private_data = u;
	u->io.poll_fd = u->fd;
	u->io.poll_events = POLLIN;
	u->io.mmap_rw = 0;
	err = snd_pcm_ioplug_create(&u->io, name, stream, mode);
	if (err < 0) {
		close(u->fd);
		free(u);
		return err;
	}
	static const unsigned int access[] = { SND_PCM_ACCESS_RW_INTERLEAVED };
	static const unsigned int formats[] = { SND_PCM_FORMAT_S16_LE };
	if ((err = snd_pcm_ioplug_set_param_list(&u->io, SND_PCM_IOPLUG_HW_ACCESS, 1, access)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_list(&u->io, SND_PCM_IOPLUG_HW_FORMAT, 1, formats)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&u->io, SND_PCM_IOPLUG_HW_CHANNELS, channels, channels)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&u->io, SND_PCM_IOPLUG_HW_RATE, rate, rate)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&u->io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, 64, 1 << 20)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&u->io, SND_PCM_IOPLUG_HW_PERIODS, 2, 1024)) < 0) {
		snd_pcm_ioplug_delete(&u->io);
		return err;
	}
	*pcmp = u->io.pcm;
	return 0;
}

SND_PCM_PLUGIN_SYMBOL(hookline_unpluggable);
